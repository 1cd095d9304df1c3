"""Atomic writes and provenance for the files notebooks hand to each other.

Every artifact is written to a temporary name and renamed into place, so an interrupted run leaves
either the old file or the new one, never half of one. Cached artifacts carry a small JSON of what
they were made from; a reader compares it with what it would make now and rebuilds on a mismatch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")


def _new_name(parent: Path, prefix: str, suffix: str, create: Callable[[Path], T]) -> tuple[Path, T]:
    """``create`` a file or folder of a fresh random name in ``parent``. Created with the ordinary
    modes (0o666 files, 0o777 folders) the process umask then narrows, unlike mkstemp's and mkdtemp's
    private ones, without reading the umask (which only setting it can do)."""
    while True:
        path = parent / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            return path, create(path)
        except FileExistsError:
            continue


def atomic_write(path: Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write`` on a temporary file beside ``path``, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    tmp, fd = _new_name(path.parent, f".{path.name}.", ".tmp", lambda p: os.open(p, flags, 0o666))
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def staging_dir(target: Path) -> Path:
    """An empty folder beside ``target`` (same file system, so ``replace_dir`` can rename it into place)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    return _new_name(target.parent, f".{target.name}.", "", lambda p: p.mkdir(0o777))[0]


def replace_dir(new: Path, target: Path) -> Path:
    """Put the folder ``new`` where ``target`` is with renames only (the old one, if any, is moved
    aside first and then deleted), so an interrupted run leaves one whole folder or none, never half."""
    new, target = Path(new), Path(target)
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def remove_temporaries(folder: Path, names: tuple[str, ...]) -> list[Path]:
    """Delete what an interrupted write of one of ``names`` left in ``folder``: an ``atomic_write``
    temporary (``.<name>.<12 hex>.tmp``), a ``staging_dir`` (``.<name>.<12 hex>``) or a folder
    ``replace_dir`` had moved aside (``.<name>.old``); nothing else, and nowhere else. Returns them."""
    folder = Path(folder)
    pattern = re.compile(r"\.(" + "|".join(map(re.escape, names)) + r")\.([0-9a-f]{12}(\.tmp)?|old)")
    left = sorted(p for p in folder.iterdir() if pattern.fullmatch(p.name)) if folder.is_dir() else []
    for path in left:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return left


def save_npy(path: Path, array: np.ndarray) -> Path:
    return atomic_write(path, lambda f: np.save(f, array))


def save_json(path: Path, obj: Any) -> Path:
    return atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2, sort_keys=True).encode()))


def save_csv(path: Path, table: pd.DataFrame) -> Path:
    return atomic_write(path, lambda f: f.write(table.to_csv(index=False).encode()))


def repair_csv(path: Path, table: pd.DataFrame) -> bool:
    """Make ``path`` hold ``table`` (as ``save_csv`` writes it), writing only when it is missing or
    holds anything else: how a resumed run brings a log back in line with its checkpoint. Whether it wrote."""
    data = table.to_csv(index=False).encode()
    if Path(path).exists() and Path(path).read_bytes() == data:
        return False
    atomic_write(path, lambda f: f.write(data))
    return True


def save_figure(path: Path, fig, **kwargs) -> Path:
    fmt = Path(path).suffix.lstrip(".")
    return atomic_write(path, lambda f: fig.savefig(f, format=fmt, bbox_inches="tight", **kwargs))


def short_hash(obj: Any) -> str:
    """A 12-character name for a JSON-able value, for cache files that must not mix sources."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


def provenance_file(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + ".json")


def is_current(path: Path, made_from: dict) -> bool:
    """True when ``path`` exists and its provenance JSON equals ``made_from``."""
    meta = provenance_file(path)
    normalised = json.loads(json.dumps(made_from, sort_keys=True))
    return Path(path).exists() and meta.exists() and json.loads(meta.read_text()) == normalised


def mark_made_from(path: Path, made_from: dict) -> None:
    save_json(provenance_file(path), made_from)


def forget_made_from(path: Path) -> None:
    """Delete ``path``'s provenance before ``path`` is rewritten, so that an interrupted rewrite is
    never taken for the artifact the old provenance describes."""
    provenance_file(path).unlink(missing_ok=True)


def reuse_or_rebuild(path: Path, made_from: dict, rebuild: Callable[[], T], load: Callable[[], T]) -> tuple[T, bool]:
    """``load()`` when ``path`` is current for ``made_from``, else ``rebuild()`` (which writes ``path``)
    and then record ``made_from``; returns the artifact and whether it was reused. The provenance is
    deleted before the rebuild starts, so an interrupted one is never taken for the artifact."""
    if is_current(path, made_from):
        return load(), True
    forget_made_from(path)
    built = rebuild()
    mark_made_from(path, made_from)
    return built, False


def read_made_from(path: Path) -> dict:
    meta = provenance_file(path)
    if not meta.exists():
        raise FileNotFoundError(f"{path} has no provenance file {meta.name}; rerun the notebook that writes it.")
    return json.loads(meta.read_text())


def require_made_from(path: Path, notebook: str) -> dict:
    """The provenance of an artifact another notebook wrote, or a FileNotFoundError naming that notebook."""
    if not Path(path).exists() or not provenance_file(path).exists():
        raise FileNotFoundError(f"{path} is missing; run notebook {notebook} first.")
    return read_made_from(path)


def require_value(path: Path, made_from: dict, key: str, expected: Any, notebook: str) -> None:
    """Refuse an artifact whose provenance records another ``key`` than the one in use now."""
    found = made_from.get(key)
    if found != expected:
        raise RuntimeError(f"{path} was made for {key} '{found}', not '{expected}'; rerun notebook {notebook}.")


def changed_keys(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts (JSON-normalised, so tuples
    and lists compare alike): what a refused checkpoint was made with that is not asked for now."""
    old, new = json.loads(json.dumps(old, sort_keys=True)), json.loads(json.dumps(new, sort_keys=True))
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(f"{prefix}{key}")
    return keys


def refuse_other_run(checkpoint: Path, made_with: dict, wanted: dict, what: str = "settings") -> None:
    """Stop, naming the keys that differ, when ``checkpoint`` was made with other ``what`` than a run
    asks for now: continuing it would mix two experiments, and overwriting it would lose one."""
    changed = changed_keys(made_with, wanted)
    if changed:
        raise RuntimeError(
            f"{checkpoint} was trained with other {what} ({', '.join(changed)}); delete "
            f"{Path(checkpoint).parent} to train with these, or restore the {what} it was made with."
        )
