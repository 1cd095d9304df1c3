"""The building blocks of the settings' schema: the error every bad setting raises, and dataclass
fields that carry the bounds ``validation`` checks (every float must also be finite)."""

from __future__ import annotations

from dataclasses import field
from typing import Any


class ConfigError(ValueError):
    """A profile file, an override or a notebook parameter that does not fit the schema."""


def bounded(
    low: float | None = None,
    high: float | None = None,
    default: Any = None,
    factory: Any = None,
    open_low: bool = False,
    open_high: bool = False,
    nonempty: bool = False,
) -> Any:
    """A field whose numbers (or each number of its list) must lie between ``low`` and ``high``,
    each end included unless ``open_low`` / ``open_high`` leaves it out (a list: ``nonempty`` too)."""
    bounds = {"low": low, "high": high, "open_low": open_low, "open_high": open_high, "nonempty": nonempty}
    if factory is not None:
        return field(default_factory=factory, metadata=bounds)
    return field(default=default, metadata=bounds)


def positive(default: Any = None, factory: Any = None, nonempty: bool = False) -> Any:
    """A count: at least 1."""
    return bounded(1, None, default, factory, nonempty=nonempty)


def non_negative(default: Any = None, factory: Any = None, nonempty: bool = False) -> Any:
    """A step count, weight decay, threshold, seed or index that a negative value would invert or wrap."""
    return bounded(0, None, default, factory, nonempty=nonempty)


def above_zero(default: float) -> Any:
    """A learning rate, temperature, epsilon or clip range: 0 would stop or divide by zero."""
    return bounded(0, None, default, open_low=True)


def fraction(default: float) -> Any:
    """A share of the data, or DDIM's eta: in [0, 1]."""
    return bounded(0, 1, default)


def decay(default: float) -> Any:
    """Adam's betas and an EMA's decay: in [0, 1), since 1 would never forget."""
    return bounded(0, 1, default, open_high=True)


def probability(default: float) -> Any:
    """A confidence level: strictly between 0 and 1."""
    return bounded(0, 1, default, open_low=True, open_high=True)


def nonempty(factory: Any) -> Any:
    """A list that must hold at least one item (an empty word list, say, would match every caption)."""
    return field(default_factory=factory, metadata={"nonempty": True})
