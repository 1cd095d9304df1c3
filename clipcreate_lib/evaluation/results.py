"""The evaluation's tables from the per-image scores: Table I (AVA and ImageReward), the creativity
proxies, and each model's paired ambiguity rise over the untrained model (over its training seeds too)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from clipcreate_lib.evaluation.scoring import diversity
from clipcreate_lib.stats import seed_interval, t_half_width
from clipcreate_lib.tables import mean_std

# The paper's Table I (AVA, ImageReward: mean, std); it has no row for the untrained model.
PAPER_TABLE1 = pd.DataFrame(
    [
        ("disc-full", 4.96, 0.5, -1.26, 1.04),
        ("clip-full", 4.99, 0.46, -1.59, 0.63),
        ("kmeans-full", 5.71, 0.42, 0.03, 1.35),
        ("disc-med", 5.12, 0.4, -1.55, 0.59),
        ("clip-med", 5.44, 0.41, 0.91, 0.89),
        ("kmeans-med", 5.09, 0.67, 0.77, 0.87),
    ],
    columns=["model", "ava_mean", "ava_std", "ir_mean", "ir_std"],
)


def table1(scores: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Table I: mean and sample std of AVA and ImageReward per model, in the given order."""
    return pd.DataFrame(
        [
            {
                "model": name,
                "ava_mean": s["ava"].mean(),
                "ava_std": s["ava"].std(),
                "ir_mean": s["ir"].mean(),
                "ir_std": s["ir"].std(),
            }
            for name, s in scores.items()
        ]
    )


def table1_display(numbers: pd.DataFrame) -> pd.DataFrame:
    """Ours beside the paper's, as 'mean (std)' strings (the paper has no row for the base model)."""
    paper = PAPER_TABLE1.set_index("model").reindex(numbers["model"])  # NaN where the paper has no row
    return pd.DataFrame(
        [
            {
                "model": row.model,
                "AVA (ours)": mean_std(row.ava_mean, row.ava_std),
                "AVA (paper)": mean_std(ref.ava_mean, ref.ava_std),
                "IR (ours)": mean_std(row.ir_mean, row.ir_std),
                "IR (paper)": mean_std(ref.ir_mean, ref.ir_std),
            }
            for row, ref in zip(numbers.itertuples(index=False), paper.itertuples(index=False))
        ]
    )


def proxies(
    scores: dict[str, pd.DataFrame], embeddings: dict[str, torch.Tensor], creativity: dict[str, dict] | None = None
) -> pd.DataFrame:
    """Automated creativity proxies per model: mean style ambiguity under each classifier (higher =
    more ambiguous; at most -log N), diversity, mean prompt alignment and, from ``creativity`` (model ->
    {column: value}, ``evaluation.creativity``), the Vendi scores, novelty and memorised share."""
    rows = []
    for name, s in scores.items():
        row = {"model": name}
        row.update({c: s[c].mean() for c in s.columns if c.startswith("ambiguity_")})
        row.update(
            diversity=diversity(embeddings[name]),
            alignment_mean=s["alignment"].mean(),
            alignment_std=s["alignment"].std(),
        )
        row.update((creativity or {}).get(name, {}))
        rows.append(row)
    return pd.DataFrame(rows)


def paired_rise(model: pd.DataFrame, base: pd.DataFrame, column: str, confidence: float, what: str) -> dict:
    """``column`` of ``model``'s image i against ``base``'s image i (same prompt, same seed): the means,
    the mean paired difference and its Student t interval over the shared image indices."""
    pairs = model[["index", column]].merge(base[["index", column]], on="index", suffixes=("", "_base"))
    if len(pairs) < 2:
        raise ValueError(f"{what} shares {len(pairs)} image indices with base; the rise needs at least 2.")
    rise = pairs[column] - pairs[f"{column}_base"]
    half = t_half_width(rise, confidence)
    return {
        "base": pairs[f"{column}_base"].mean(),
        "trained": pairs[column].mean(),
        "rise": rise.mean(),
        "low": rise.mean() - half,
        "high": rise.mean() + half,
        "images": len(rise),
    }


def ambiguity_rise(scored: dict[str, pd.DataFrame], confidence: float = 0.95) -> pd.DataFrame:
    """How far training moved each model's style ambiguity under its own classifier: the paired rise
    over the untrained ``base`` (``paired_rise``). ``scored`` maps a model to its per-image ``index``
    and ``ambiguity_<model>`` columns (``base`` holds every classifier's); other models are skipped."""
    if "base" not in scored:
        raise ValueError("The ambiguity rise compares each model with 'base'; add it to evaluation.models.")
    rows = [
        {"model": name, **paired_rise(model, scored["base"], f"ambiguity_{name}", confidence, name)}
        for name, model in scored.items()
        if name != "base" and f"ambiguity_{name}" in model
    ]
    return pd.DataFrame(rows)


def with_seed_interval(
    table: pd.DataFrame,
    seeded: dict[str, list[pd.DataFrame]],
    base: pd.DataFrame,
    column_of: Callable[[pd.Series], str],
    confidence: float = 0.95,
) -> pd.DataFrame:
    """``table`` (a rise per row, of the row's ``model`` in its score column ``column_of(row)``) with
    the spread between training seeds: ``seeds``, ``seed_rise`` (the mean over the seeds of each run's
    paired rise over ``base``) and its percentile bootstrap interval over the seeds (``seed_low``,
    ``seed_high``). ``seeded`` maps a model to the scores of every run of it, the main one included; a
    model with one run gets NaN."""
    rows = []
    for _, row in table.iterrows():
        column = column_of(row)
        rises = [
            paired_rise(run, base, column, confidence, row["model"])["rise"]
            for run in seeded.get(row["model"], [])
            if column in run
        ]
        low, high = seed_interval(np.array(rises), confidence)
        rows.append(
            {"seeds": len(rises), "seed_rise": np.mean(rises) if rises else np.nan, "seed_low": low, "seed_high": high}
        )
    return pd.concat([table.reset_index(drop=True), pd.DataFrame(rows)], axis=1)


def interval_cells(numbers: pd.DataFrame, prefix: str = "") -> list[str]:
    """'rise [low, high]' of every row, from the columns ``<prefix>rise``, ``<prefix>low``, ``<prefix>high``."""
    columns = numbers[[f"{prefix}rise", f"{prefix}low", f"{prefix}high"]].to_numpy()
    return [f"{r:.3f} [{lo:.3f}, {hi:.3f}]" for r, lo, hi in columns]


def ambiguity_rise_display(numbers: pd.DataFrame) -> pd.DataFrame:
    shown = pd.DataFrame(
        {
            "model": numbers["model"],
            "base": numbers["base"].map(lambda v: f"{v:.3f}"),
            "trained": numbers["trained"].map(lambda v: f"{v:.3f}"),
            "rise [95% CI]": interval_cells(numbers),
            "images": numbers["images"],
        }
    )
    if "seeds" in numbers:
        shown["over seeds [95% bootstrap]"] = interval_cells(numbers, "seed_")
        shown["seeds"] = numbers["seeds"]
    return shown


def proxies_display(numbers: pd.DataFrame) -> pd.DataFrame:
    display = pd.DataFrame({"model": numbers["model"]})
    for column in numbers.columns:
        if column.startswith("ambiguity_"):
            display[f"amb. {column.removeprefix('ambiguity_')}"] = numbers[column].map(lambda v: f"{v:.3f}")
    display["diversity"] = numbers["diversity"].map(lambda v: f"{v:.3f}")
    for column in ("vendi", "vendi_per_prompt", "novelty", "memorised"):
        if column in numbers:
            display[column.replace("_", " ")] = numbers[column].map(lambda v: f"{v:.3f}")
    display["alignment"] = [mean_std(m, s, 3) for m, s in zip(numbers["alignment_mean"], numbers["alignment_std"])]
    return display
