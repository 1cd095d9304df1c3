"""The statistics of the style-bias audit: how a set of images' predicted styles are spread, and how
far that spread is from a reference distribution or from another set's.

For n images with O_k predicted in style k of K, and reference shares r_k (expected counts
E_k = n r_k):

* entropy H = -sum_k (O_k / n) ln(O_k / n), in nats (at most ln K, reached when every style is
  predicted equally often; 0 when every image gets one style);
* the G-test of goodness of fit, G = 2 sum_k O_k ln(O_k / E_k), against chi-square with K - 1
  degrees of freedom (scipy's ``power_divergence(lambda_="log-likelihood")``), and, since n is
  often small beside K (expected counts below 5), a Monte Carlo p-value from multinomial draws
  under the reference, which needs no such approximation;
* Pearson residuals (O_k - E_k) / sqrt(E_k), whose largest and smallest name the most over- and
  under-represented styles (an absent style that was expected often is more under-represented than
  one expected rarely);
* against another image set (a trained model against the untrained one): the G-test of
  homogeneity of the 2 x K table (scipy's ``chi2_contingency``, no continuity correction), and the
  style whose share grew most.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

PSEUDO_COUNT = 0.5  # added to every reference count, so a style the data never shows has E_k > 0


def shares_from_counts(counts: np.ndarray) -> np.ndarray:
    """Reference shares (c_k + 0.5) / (n + 0.5 K) of reference counts c_k."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or (counts < 0).any():
        raise ValueError(f"Reference counts must be one non-negative count per style, got {counts}.")
    return (counts + PSEUDO_COUNT) / (counts.sum() + PSEUDO_COUNT * len(counts))


def entropy(counts: np.ndarray) -> float:
    """Shannon entropy of the shares O_k / n, in nats."""
    return float(stats.entropy(np.asarray(counts, dtype=np.float64)))


def g_test(observed: np.ndarray, shares: np.ndarray) -> tuple[float, int, float]:
    """(G, degrees of freedom K - 1, p-value) of ``observed`` counts against reference ``shares``."""
    observed = np.asarray(observed, dtype=np.float64)
    shares = np.asarray(shares, dtype=np.float64)
    if observed.shape != shares.shape or not np.isclose(shares.sum(), 1) or (shares <= 0).any():
        raise ValueError("The G-test needs one positive reference share per style, summing to 1.")
    g, p = stats.power_divergence(observed, observed.sum() * shares, lambda_="log-likelihood")
    return float(g), len(observed) - 1, float(p)


def monte_carlo_p(observed: np.ndarray, shares: np.ndarray, draws: int, seed: int) -> float:
    """P(G >= G_observed) under the reference, from ``draws`` multinomial samples of n images:
    (1 + #{G_draw >= G_obs}) / (1 + draws), never 0."""
    observed = np.asarray(observed, dtype=np.int64)
    shares = np.asarray(shares, dtype=np.float64)
    expected = observed.sum() * shares
    sampled = np.random.default_rng(seed).multinomial(observed.sum(), shares, size=draws)
    g_obs = _g(observed[None], expected)[0]
    return float((1 + (_g(sampled, expected) >= g_obs - 1e-9).sum()) / (1 + draws))


def _g(counts: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """G = 2 sum_k O_k ln(O_k / E_k) per row (a zero count contributes 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(counts > 0, counts * np.log(counts / expected), 0.0)
    return 2 * terms.sum(axis=-1)


def residuals(observed: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Pearson residuals (O_k - E_k) / sqrt(E_k)."""
    expected = np.asarray(observed).sum() * np.asarray(shares, dtype=np.float64)
    return (np.asarray(observed) - expected) / np.sqrt(expected)


def homogeneity(observed: np.ndarray, baseline: np.ndarray) -> tuple[float, float]:
    """(G, p-value) of the G-test that two sets of counts come from one distribution; styles neither
    set predicts are left out (they carry no information); one style left is p = 1."""
    table = np.vstack([observed, baseline]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    g, p, _, _ = stats.chi2_contingency(table, correction=False, lambda_="log-likelihood")
    return float(g), float(p)
