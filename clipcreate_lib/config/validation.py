"""Plain data (a profile's YAML with its overrides) checked against the dataclasses and turned into
them: an unknown key, a wrong type, a number that is not finite or out of bounds is a ``ConfigError``
whose one sentence names the key, the value and what is allowed.

We check by hand rather than with OmegaConf's structured configs: they would replace the type
checks only (bounds, finiteness, non-empty lists and the sentences would still be ours), and they
coerce strings to numbers ("10" for an integer) where a profile should say what it means.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal

from clipcreate_lib.config.fields import ConfigError


def build(cls: type, raw: Any, prefix: str, where: str) -> Any:
    """An instance of the dataclass ``cls`` from the mapping ``raw`` (nested dataclasses recursively);
    ``prefix`` is the dotted path of ``raw`` and ``where`` the file it came from, for the errors."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: '{prefix.rstrip('.') or 'top level'}' must be a mapping of keys, got {raw!r}.")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields), key=str)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key '{prefix}{unknown[0]}'; known keys here are {', '.join(sorted(fields))}."
        )
    values = {}
    for name, value in raw.items():
        key, hint = f"{prefix}{name}", hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = build(hint, value, f"{key}.", where)
        else:
            values[name] = check(value, hint, fields[name].metadata, key, where)
    return cls(**values)


def check(value: Any, hint: Any, meta: dict, key: str, where: str) -> Any:
    """``value`` for the field ``key`` of type ``hint`` and bounds ``meta``, or a ConfigError."""
    if not fits(value, hint):
        raise ConfigError(f"{where}: key '{key}' must be {describe(hint)}, got {value!r} ({type(value).__name__}).")
    if meta.get("nonempty") and not value:
        raise ConfigError(f"{where}: key '{key}' must hold at least one item, got [].")
    numbers = [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, (int, float))]
    if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
        raise ConfigError(f"{where}: key '{key}' must be a finite number, got {value!r}.")
    low, high = meta.get("low"), meta.get("high")
    if low is not None and any(v <= low if meta["open_low"] else v < low for v in numbers):
        rule = f"above {low}" if meta["open_low"] else f"at least {low}"
        raise ConfigError(f"{where}: key '{key}' must be {rule}, got {value!r}.")
    if high is not None and any(v >= high if meta["open_high"] else v > high for v in numbers):
        rule = f"below {high}" if meta["open_high"] else f"at most {high}"
        raise ConfigError(f"{where}: key '{key}' must be {rule}, got {value!r}.")
    return float(value) if hint is float else value


def fits(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, arg) for arg in typing.get_args(hint))
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(fits(v, item) for v in value)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, hint)


def describe(hint: Any) -> str:
    """What a field of type ``hint`` accepts, in words: 'an integer or null', "one of 'word', 'substring'"."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in typing.get_args(hint))
    if origin is list:
        item = typing.get_args(hint)[0]
        return "a list of " + {str: "strings", int: "integers", float: "numbers"}.get(item, describe(item))
    return {type(None): "null", bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )
