"""Confidence intervals shared by the stages: the Student t quantile and the three interval shapes
the project reports (the mean of independent values, a Welch difference of two windows, and a
cluster-robust mean whose values come in groups), and the bootstrap interval of a mean over a few
training seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def t_quantile(confidence: float, dof: float) -> float:
    """The two-sided Student t quantile: the half-width of an interval in standard errors."""
    return stats.t.ppf((1 + confidence) / 2, dof)


def t_half_width(values: pd.Series, confidence: float) -> float:
    """Half the width of the Student t interval of the mean of ``values`` (NaN with fewer than two)."""
    n = len(values)
    return t_quantile(confidence, n - 1) * values.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan


def welch_half_width(first: np.ndarray, last: np.ndarray, confidence: float) -> float:
    """Half the width of the Welch interval of ``last.mean() - first.mean()`` (equal-length windows,
    each value one draw), with the Welch-Satterthwaite degrees of freedom."""
    window = len(first)
    var_first, var_last = first.var(ddof=1) / window, last.var(ddof=1) / window
    se = np.sqrt(var_first + var_last)
    dof = (var_first + var_last) ** 2 / ((var_first**2 + var_last**2) / (window - 1)) if se > 0 else np.inf
    return t_quantile(confidence, dof) * se


def cluster_half_width(values: pd.Series, clusters: pd.Series, confidence: float) -> float:
    """Half the width of the cluster-robust interval of ``values.mean()``.

    With R clusters, N values, mean m and S_r the sum of cluster r's values (n_r of them), the
    standard error is sqrt(R / (R - 1) * sum_r (S_r - n_r m)^2) / N, and the interval uses Student t
    with R - 1 degrees of freedom: the count of independent units is the clusters, not the values.
    NaN with fewer than two clusters.
    """
    sums = values.groupby(clusters.to_numpy()).agg(["sum", "count"])
    count = len(sums)
    if count < 2:
        return np.nan
    mean = values.mean()
    spread = ((sums["sum"] - sums["count"] * mean) ** 2).sum()
    standard_error = np.sqrt(count / (count - 1) * spread) / len(values)
    return t_quantile(confidence, count - 1) * standard_error


def seed_interval(values: np.ndarray, confidence: float = 0.95, resamples: int = 9999) -> tuple[float, float]:
    """The percentile bootstrap interval (``scipy.stats.bootstrap``) of the mean of one value per training
    seed, resampling seeds. Percentile, not BCa: with two or three seeds BCa's jackknife is degenerate. A
    fixed random state, so a table is the same on every run; NaN with fewer than two seeds."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return np.nan, np.nan
    if np.ptp(values) == 0:  # every resample has the same mean; scipy warns and returns NaN
        return float(values[0]), float(values[0])
    result = stats.bootstrap(
        (values,), np.mean, confidence_level=confidence, n_resamples=resamples, method="percentile", random_state=0
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)
