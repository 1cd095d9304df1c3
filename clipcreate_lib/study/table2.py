"""Table II: the mean answer per model and question, with its interval over raters, from the answers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from clipcreate_lib.stats import cluster_half_width
from clipcreate_lib.study.agreement import rater_bootstrap
from clipcreate_lib.study.questions import QUESTION_KEYS, QUESTIONS
from clipcreate_lib.tables import MISSING

PAPER_TABLE2 = pd.DataFrame(
    [
        ("disc-full", 3.048, 2.784, 2.576, 2.920, 3.040),
        ("clip-full", 3.376, 2.920, 2.728, 2.656, 3.224),
        ("kmeans-full", 3.104, 2.760, 2.656, 2.808, 3.248),
        ("disc-med", 2.600, 2.728, 2.520, 3.144, 3.064),
        ("clip-med", 2.936, 3.032, 2.808, 2.784, 3.104),
        ("kmeans-med", 3.216, 3.328, 2.960, 3.448, 3.728),
    ],
    columns=["model", *QUESTION_KEYS],
)


def table2(
    responses: pd.DataFrame,
    key: pd.DataFrame,
    models: Sequence[str],
    confidence: float,
    resamples: int = 9999,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean answer per model and question, its confidence intervals, and the answers and raters behind it.

    Columns: model, the five means, then ``<q>_low``, ``<q>_high`` for each question, then
    ``<q>_boot_low``, ``<q>_boot_high``, then ``<q>_n`` (answers) and ``<q>_raters``. The mean counts
    every answer once, as the paper's means do. The interval does not: one rater's answers share that
    rater's leniency, so treating them as independent draws would make it too narrow. It is the
    cluster-robust interval of that mean with raters as clusters (``stats.cluster_half_width``),
    which equals the Student t interval of the raters' own means when every rater answered equally
    often. Beside it, the rater-level bootstrap
    (``agreement.rater_bootstrap``, ``resamples`` of them, seeded) makes no t assumption. With fewer
    than two raters both are undefined (NaN).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie between 0 and 1, got {confidence}.")
    merged = responses.merge(key[["kit", "image", "model"]], on=["kit", "image"], how="left")
    stray = merged[merged["model"].isna()]
    if len(stray):
        row = stray.iloc[0]
        raise ValueError(
            f"{len(stray)} answers name images outside the current kit {key['kit'].iloc[0]} (first: "
            f"kit {row['kit']}, image {row['image']}); they belong to another kit or were mistyped."
        )
    columns = [
        "model",
        *QUESTION_KEYS,
        *[f"{q}_{end}" for q in QUESTION_KEYS for end in ("low", "high")],
        *[f"{q}_boot_{end}" for q in QUESTION_KEYS for end in ("low", "high")],
        *[f"{q}_{count}" for count in ("n", "raters") for q in QUESTION_KEYS],
    ]
    rows = [_model_row(merged, model, confidence, resamples, seed) for model in models]
    return pd.DataFrame(rows, columns=columns)


def _model_row(merged: pd.DataFrame, model: str, confidence: float, resamples: int, seed: int) -> dict:
    """Table II's row of ``model``: per question, the mean answer, its intervals over raters, the
    answers and the raters."""
    row = {"model": model}
    for q in QUESTION_KEYS:
        cell = merged.loc[(merged["model"] == model) & (merged["question"] == q)]
        answers = cell["answer"].astype(float)
        mean, half = answers.mean(), cluster_half_width(answers, cell["rater"], confidence)
        boot_low, boot_high = rater_bootstrap(answers, cell["rater"], confidence, resamples, seed)
        row.update(
            {
                q: mean,
                f"{q}_low": mean - half,
                f"{q}_high": mean + half,
                f"{q}_boot_low": boot_low,
                f"{q}_boot_high": boot_high,
                f"{q}_n": len(answers),
                f"{q}_raters": cell["rater"].nunique(),
            }
        )
    return row


def table2_display(numbers: pd.DataFrame) -> pd.DataFrame:
    """'3.05 [2.80, 3.30] boot [2.81, 3.29]' (the mean, its clustered and its bootstrap interval) for
    ours beside the paper's mean, per question, and the answers and raters per cell."""
    paper = PAPER_TABLE2.set_index("model").reindex(numbers["model"])
    display = pd.DataFrame({"model": numbers["model"]})
    for q in QUESTIONS:
        ends = [numbers[f"{q.key}_{end}"] for end in ("low", "high", "boot_low", "boot_high")]
        display[f"{q.name} (ours)"] = [_interval(*cell) for cell in zip(numbers[q.key], *ends)]
        display[f"{q.name} (paper)"] = [MISSING if np.isnan(v) else f"{v:.3f}" for v in paper[q.key]]
    for count, header in (("n", "n"), ("raters", "raters")):
        counts = numbers[[f"{q}_{count}" for q in QUESTION_KEYS]]
        display[header] = [
            str(lo) if lo == hi else f"{lo}–{hi}" for lo, hi in zip(counts.min(axis=1), counts.max(axis=1))
        ]
    return display


def _interval(mean: float, low: float, high: float, boot_low: float, boot_high: float) -> str:
    if np.isnan(mean):
        return MISSING
    if np.isnan(low):
        return f"{mean:.2f}"
    return f"{mean:.2f} [{low:.2f}, {high:.2f}] boot [{boot_low:.2f}, {boot_high:.2f}]"


def answer_shares(responses: pd.DataFrame, key: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """The share of each answer (1-5) per model and question: columns model, question, answer, share
    (each model and question's shares add up to 1; a model with no answers to a question is left out)."""
    merged = responses.merge(key[["kit", "image", "model"]], on=["kit", "image"], how="inner")
    counts = merged.groupby(["model", "question", "answer"]).size().rename("count").reset_index()
    counts["share"] = counts["count"] / counts.groupby(["model", "question"])["count"].transform("sum")
    order = {m: i for i, m in enumerate(models)}
    counts = counts[counts["model"].isin(order)]
    return counts.sort_values(["model", "question", "answer"], key=lambda c: c.map(order) if c.name == "model" else c)
