"""Profiles as users own them: any ``params/<name>.yaml``, or a YAML file given by its path, is one.

A profile may begin with ``extends: <profile>`` and give only what differs; the chain is read from
the root down and each file merged over the one it extends (mappings key by key, anything else
replaced), so the defaults live once, in the dataclasses. A profile's name is its file's stem: it
names the profile's folders (``data/<name>/``, ``figures/<name>/``) and its provenance records.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from clipcreate_lib import paths
from clipcreate_lib.config.fields import ConfigError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
SUFFIXES = (".yaml", ".yml")


def available() -> list[str]:
    """The profiles in ``params/``, by name."""
    return sorted(p.stem for p in paths.PARAMS.glob("*.yaml"))


def find(profile: str | Path) -> tuple[str, Path]:
    """(name, file) of a profile given by name (``params/<name>.yaml``) or, on purpose, by the path
    of a YAML file (one that ends in .yaml or .yml)."""
    text = str(profile)
    if text.endswith(SUFFIXES):
        path = Path(text).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"The profile file {text} does not exist.")
        if not NAME.fullmatch(path.stem):
            raise ConfigError(
                f"The profile file {text} has a name that cannot name its folders; use letters, "
                f"digits, '-', '_' and '.'."
            )
        return path.stem, path
    if not NAME.fullmatch(text) or not paths.params_file(text).is_file():
        raise ConfigError(
            f"Unknown profile '{text}'; choose one of {', '.join(available())}, or give the path of a "
            f"YAML file (ending in .yaml)."
        )
    return text, paths.params_file(text)


def display(path: Path) -> str:
    """``path`` as errors name it: relative to the repository when it lies inside."""
    try:
        return str(path.relative_to(paths.REPO))
    except ValueError:
        return str(path)


def read(path: Path) -> dict:
    """A profile file's mapping, or a ConfigError saying what is wrong with the file (with the line of a
    YAML syntax error)."""
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{display(path)}{line} is not valid YAML: {problem}.") from None
    if raw is None:
        raise ConfigError(f"{display(path)} is empty; a profile holds at least 'extends: <profile>' or one section.")
    if not isinstance(raw, dict):
        raise ConfigError(f"{display(path)} must hold a mapping of sections, not a {type(raw).__name__}.")
    return raw


def compose(name: str, path: Path, seen: tuple[str, ...] = ()) -> dict:
    """The profile's settings with every ``extends`` resolved, its ``profile`` key checked against its
    name and dropped (each file of the chain names itself, if at all)."""
    if str(path) in seen:
        raise ConfigError(f"{display(path)} extends itself through {' -> '.join(seen + (str(path),))}.")
    raw = read(path)
    said = raw.pop("profile", name)
    if said != name:
        raise ConfigError(
            f"{display(path)} says 'profile: {said}' but its file names it '{name}'; make the two agree "
            f"(or drop the key)."
        )
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise ConfigError(f"{display(path)}: key 'extends' must name a profile, got {parent!r}.")
    # a file extended by its path is found beside the profile that extends it
    parent_name, parent_path = find(path.parent / parent if parent.endswith(SUFFIXES) else parent)
    return merge(compose(parent_name, parent_path, seen + (str(path),)), raw)


def merge(base: dict, over: dict) -> dict:
    """``over`` merged into a copy of ``base``: mappings key by key, any other value replaced."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_set(item: str, types: Any) -> dict:
    """``section.key=value`` (``--set`` on the command line) as a nested override, the value typed as
    the field's type: kept as text for a text field, read as YAML otherwise. ``types(section, key)``
    gives the field's type, or raises the ConfigError that names an unknown key."""
    key, sep, text = item.partition("=")
    parts = key.strip().split(".")
    if not sep or len(parts) != 2 or not all(parts):
        raise ConfigError(f"--set takes section.key=value (for example ddpo.epochs=5), got '{item}'.")
    section, name = parts
    hint = types(section, name)
    if hint is str:
        return {section: {name: text}}
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(f"--set {item}: '{text}' is not a value YAML can read.") from None
    if hint is float and isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as text
        try:
            value = float(value)
        except ValueError:
            pass  # left as text, for validation to name the key
    return {section: {name: value}}
