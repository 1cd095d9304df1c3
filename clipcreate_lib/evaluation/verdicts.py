"""Does a model's rise in style ambiguity survive judges it was not trained against? The judges table of
notebook 05: per trained model, its paired rise over ``base`` under its own (training) classifier and
under every held-out judge of its label set (``judges``), each with a 95% interval. A rise above the
noise under its own classifier that vanishes under every held-out judge is flagged as likely reward
hacking: the model learned to fool one CLIP, not to paint ambiguously."""

from __future__ import annotations

import pandas as pd

from clipcreate_lib.evaluation import judges
from clipcreate_lib.evaluation.results import interval_cells, paired_rise
from clipcreate_lib.styles import classifiers

OWN = "own"  # the ``judge`` of the rows measured by the model's training classifier


def judges_table(scored: dict[str, pd.DataFrame], confidence: float = 0.95) -> pd.DataFrame:
    """Long format, one row per (model, judge): ``model, judge, held_out, base, trained, rise, low, high,
    images``. ``scored`` maps each model and ``base`` to per-image ``index`` and ``ambiguity_*`` columns;
    the judges of a model are those of its label set present in ``base``."""
    if "base" not in scored:
        raise ValueError("The judges table compares each model with 'base'; add it to evaluation.models.")
    base, rows = scored["base"], []
    for model, frame in scored.items():
        if model == "base":
            continue
        for judge in (OWN, *judges.KINDS):
            column = score_column(model, judge)
            if column in frame and column in base:
                rise = paired_rise(frame, base, column, confidence, model)
                rows.append({"model": model, "judge": judge, "held_out": judge != OWN, **rise})
    return pd.DataFrame(rows)


def score_column(model: str, judge: str) -> str:
    """The per-image score column in which ``judge`` (``OWN`` or one of ``judges.KINDS``) measures ``model``."""
    if judge == OWN:
        return f"ambiguity_{model}"
    return f"ambiguity_{judges.name(judge, classifiers.split_model_name(model)[1])}"


def verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """Per model: whether its rise is above the noise under its own classifier (``own_rises``), under
    how many held-out judges it is (``judges_agreeing``), and ``likely_hacking`` when the first holds
    and no judge agrees."""
    rows = []
    for model, group in table.groupby("model", sort=False):
        own = group[~group["held_out"]]
        own_rises = bool((own["low"] > 0).any())
        agreeing = int((group[group["held_out"]]["low"] > 0).sum())
        rows.append(
            {
                "model": model,
                "own_rises": own_rises,
                "judges_agreeing": agreeing,
                "likely_hacking": own_rises and agreeing == 0,
            }
        )
    return pd.DataFrame(rows)


def _verdict(flags: pd.Series) -> str:
    if not flags["own_rises"]:
        return "no rise under its own classifier"
    if flags["likely_hacking"]:
        return "likely reward hacking"
    return f"rise confirmed by {flags['judges_agreeing']} of {len(judges.KINDS)} judges"


def display(table: pd.DataFrame) -> pd.DataFrame:
    """One row per model: 'rise [low, high]' under its own classifier and each judge, and the verdict."""
    cells = table.assign(cell=interval_cells(table))
    if "seeds" in table:  # the bootstrap interval over seeds below each cell's
        cells["cell"] = [f"{c}; seeds {s}" for c, s in zip(cells["cell"], interval_cells(table, "seed_"))]
    wide = cells.pivot(index="model", columns="judge", values="cell").reindex(table["model"].unique())
    wide = wide[[c for c in (OWN, *judges.KINDS) if c in wide]].rename(
        columns={OWN: "own classifier", **{k: f"judge {k}" for k in judges.KINDS}}
    )
    flags = verdicts(table).set_index("model")
    wide["verdict"] = [_verdict(flags.loc[m]) for m in wide.index]
    return wide.reset_index()
