"""Plain data (a profile's YAML with overrides) checked against the dataclasses and turned into them:
an unknown key, a wrong type or a value out of bounds is a ``ConfigError`` naming the key."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal

from clipcreate_lib.config.fields import ConfigError


def build(cls: type, raw: Any, prefix: str, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: '{prefix.rstrip('.') or 'top level'}' must be a mapping.")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key '{prefix}{unknown[0]}'; known keys here are {', '.join(sorted(known))}."
        )
    metadata = {f.name: f.metadata for f in dataclasses.fields(cls)}
    bounds = {name: (meta.get("min"), meta.get("max")) for name, meta in metadata.items()}
    values = {}
    for name, value in raw.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = build(hint, value, f"{prefix}{name}.", where)
            continue
        values[name] = _check(value, hint, f"{prefix}{name}", where)
        if metadata[name].get("nonempty") and not value:
            raise ConfigError(f"{where}: key '{prefix}{name}' must hold at least one item, got [].")
        low, high = bounds[name]
        numbers = [v for v in (value if isinstance(value, list) else [value]) if v is not None]
        if low is not None and any(v < low for v in numbers):
            raise ConfigError(f"{where}: key '{prefix}{name}' must be at least {low}, got {value!r}.")
        if high is not None and any(v > high for v in numbers):
            raise ConfigError(f"{where}: key '{prefix}{name}' must be at most {high}, got {value!r}.")
    return cls(**values)


def _check(value: Any, hint: Any, key: str, where: str) -> Any:
    if not _fits(value, hint):
        raise ConfigError(f"{where}: key '{key}' must be {_describe(hint)}, got {value!r} ({type(value).__name__}).")
    if hint is float:
        return float(value)
    return value


def _fits(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return value in typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in typing.get_args(hint))
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if origin is list:
        item = typing.get_args(hint)[0]
        return "a list of " + {str: "strings", int: "integers", float: "numbers"}.get(item, _describe(item))
    return {type(None): "null", bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )
