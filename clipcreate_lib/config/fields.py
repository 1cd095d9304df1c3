"""The building blocks of the settings' schema: the error every bad setting raises, and dataclass
fields that carry the bounds ``validation`` checks."""

from __future__ import annotations

from dataclasses import field
from typing import Any


class ConfigError(ValueError):
    """A profile file or a notebook parameter that does not fit the schema below."""


def bounded(minimum: float, maximum: float | None = None, default: Any = None, factory: Any = None) -> Any:
    """A field whose numbers (or each number of its list) must lie in [minimum, maximum]."""
    bounds = {"min": minimum, "max": maximum}
    if factory is not None:
        return field(default_factory=factory, metadata=bounds)
    return field(default=default, metadata=bounds)


def positive(default: Any = None, factory: Any = None) -> Any:
    """A count: at least 1."""
    return bounded(1, None, default, factory)


def nonempty(factory: Any) -> Any:
    """A list that must hold at least one item (an empty word list, say, would match every caption)."""
    return field(default_factory=factory, metadata={"nonempty": True})


def non_negative(default: Any = None, factory: Any = None) -> Any:
    """A step count, rate, threshold or index that a negative value would silently invert or wrap."""
    return bounded(0, None, default, factory)
