"""What Table II adds to its means: a rater-level bootstrap interval beside the clustered one, and how
far raters agree with each other on each question (Krippendorff's alpha, ordinal)."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
from scipy import stats

from clipcreate_lib.study.questions import ANSWERS, QUESTIONS

AGREEMENT_COLUMNS = ["question", "alpha", "raters", "images", "answers"]


def rater_bootstrap(
    answers: pd.Series, raters: pd.Series, confidence: float, resamples: int, seed: int
) -> tuple[float, float]:
    """The percentile bootstrap interval of ``answers.mean()`` with raters resampled, each with all of
    their answers (scipy.stats.bootstrap over rater indices): the statistic of a resample is its
    answers' mean, the mean Table II reports. Like the clustered interval it treats raters, not
    answers, as the independent units, without assuming a t distribution. NaN with fewer than two
    raters."""
    by_rater = answers.astype(float).groupby(raters.to_numpy())
    sums, counts = by_rater.sum().to_numpy(), by_rater.size().to_numpy()
    if len(sums) < 2:
        return np.nan, np.nan
    if np.ptp(sums / counts) == 0:  # every rater's mean alike: every resample's mean is that value
        return float(sums[0] / counts[0]), float(sums[0] / counts[0])

    def mean_of(chosen: np.ndarray, axis: int = -1) -> np.ndarray:
        return sums[chosen].sum(axis=axis) / counts[chosen].sum(axis=axis)

    result = stats.bootstrap(
        (np.arange(len(sums)),),
        mean_of,
        vectorized=True,
        n_resamples=resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def ordinal_alpha(ratings: pd.DataFrame) -> float:
    """Krippendorff's alpha of ``ratings`` (raters x units, NaN where a rater did not rate a unit) with
    the ordinal distance on the 1-5 answers (the ``krippendorff`` package). 1 is perfect agreement,
    0 agreement no better than chance. NaN when it is undefined: no unit rated twice, or every
    pairable answer the same."""
    values = ratings.to_numpy(float)
    pairable = values[:, (~np.isnan(values)).sum(axis=0) >= 2]
    if pairable.size == 0 or len(np.unique(pairable[~np.isnan(pairable)])) < 2:
        return np.nan
    return float(
        krippendorff.alpha(reliability_data=pairable, level_of_measurement="ordinal", value_domain=list(ANSWERS))
    )


def agreement(responses: pd.DataFrame) -> pd.DataFrame:
    """Per question (the paper's abbreviation), Krippendorff's ordinal alpha over the kit's images, and
    the raters, images and answers it rests on."""
    rows = []
    for q in QUESTIONS:
        cell = responses[responses["question"] == q.key]
        ratings = cell.pivot_table(index="rater", columns=["kit", "image"], values="answer", aggfunc="first")
        rows.append(
            {
                "question": q.name,
                "alpha": ordinal_alpha(ratings),
                "raters": cell["rater"].nunique(),
                "images": cell.groupby(["kit", "image"]).ngroups,
                "answers": len(cell),
            }
        )
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)
