"""Table III: the untrained model, the six DDPO models and both guided methods per classifier, on
notebook 05's protocol, and the sweep of the guided methods' one setting each.

Each row's ambiguity rise is ``evaluation.results.ambiguity_rise``: its image i against the untrained
model's image i (same prompt, same seed) under its own classifier, with a 95% t interval over the
row's images; a row made on a subset of the protocol is compared on that subset, named in ``subset``.
The same paired rise under each held-out judge of the classifier's label set (notebook 05's
``verdicts``) says whether a guided method fooled the one CLIP it followed.
"""

from __future__ import annotations

import math

import pandas as pd
import torch

from clipcreate_lib.evaluation import judges, results, verdicts
from clipcreate_lib.evaluation.scoring import diversity
from clipcreate_lib.styles.classifiers import split_model_name

RISE = ("ambiguity_rise", "ambiguity_rise_low", "ambiguity_rise_high", "ambiguity", "base_ambiguity")
JUDGED = tuple(f"judge_{kind}_{part}" for kind in judges.KINDS for part in ("rise", "low", "high"))
DISPLAY_METHODS = {"base": "untrained", "ddpo": "DDPO", "onestep": "one-step guidance", "doodl": "DOODL"}


def subset_name(images: int, protocol: int) -> str:
    return "all" if images >= protocol else f"images 0-{images - 1}"


def row(
    method: str,
    classifier: str,
    scored: pd.DataFrame,
    embeddings: torch.Tensor,
    base: pd.DataFrame,
    base_embeddings: torch.Tensor,
    cost: dict[str, float],
    protocol: int,
) -> dict:
    """One row of Table III from a set's scores and embeddings, against the untrained model's on the
    same indices (``base``'s rows are ordered by index, 0 .. N - 1, as notebook 05 writes them)."""
    shared = base[base["index"].isin(scored["index"])]
    out = {
        "method": method,
        "classifier": classifier,
        "dataset": split_model_name(classifier)[1] if classifier else "",
        "images": len(scored),
        "subset": subset_name(len(scored), protocol),
    }
    out.update(dict.fromkeys(RISE, math.nan))
    out.update(dict.fromkeys(JUDGED, math.nan))
    if classifier:
        rise = results.ambiguity_rise({"base": shared, classifier: scored}).iloc[0]
        out.update(zip(RISE, (rise["rise"], rise["low"], rise["high"], rise["trained"], rise["base"])))
        for kind in judges.KINDS:
            column = verdicts.score_column(classifier, kind)
            if column in scored and column in shared:
                judged = results.paired_rise(scored, shared, column, 0.95, classifier)
                out.update({f"judge_{kind}_{part}": judged[part] for part in ("rise", "low", "high")})
    out.update(
        ava_mean=scored["ava"].mean(),
        ir_mean=scored["ir"].mean(),
        diversity=diversity(embeddings),
        base_diversity=diversity(base_embeddings[shared["index"].tolist()]),
        alignment=scored["alignment"].mean(),
        **cost,
    )
    out.update({c: scored[c].mean() for c in scored.columns if c.startswith("ambiguity_")})  # transfer
    return out


def display(table: pd.DataFrame) -> pd.DataFrame:
    """Table III as shown: rise with its interval, diversity beside the untrained model's on the same images."""

    def fmt(v, digits=3):
        return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"

    return pd.DataFrame(
        {
            "method": table["method"].map(DISPLAY_METHODS),
            "classifier": table["classifier"].replace("", "—"),
            "images": [f"{n} ({s})" for n, s in zip(table["images"], table["subset"])],
            "ambiguity rise [95% CI]": [
                "—" if math.isnan(r) else f"{r:.2f} [{lo:.2f}, {hi:.2f}]"
                for r, lo, hi in zip(table["ambiguity_rise"], table["ambiguity_rise_low"], table["ambiguity_rise_high"])
            ],
            "held-out judges agreeing": judges_agreeing(table),
            "diversity (base)": [f"{fmt(d)} ({fmt(b)})" for d, b in zip(table["diversity"], table["base_diversity"])],
            "alignment": table["alignment"].map(fmt),
            "AVA": table["ava_mean"].map(lambda v: fmt(v, 2)),
            "IR": table["ir_mean"].map(lambda v: fmt(v, 2)),
            "s / image": table["seconds_per_image"].map(lambda v: fmt(v, 2)),
            "UNet evals / image (backward)": [
                f"{fmt(f, 0)} ({fmt(b, 0)})"
                for f, b in zip(table["unet_evals_per_image"], table["unet_backwards_per_image"])
            ],
        }
    )


def judges_agreeing(table: pd.DataFrame) -> list[str]:
    """Per row, 'k of n': of the n held-out judges that measured it, how many see a rise above the noise
    (95% interval above 0); '—' for a row without a classifier or judges."""
    lows = table[[f"judge_{kind}_low" for kind in judges.KINDS]]
    return [
        "—" if row.isna().all() else f"{int((row.dropna() > 0).sum())} of {int(row.notna().sum())}"
        for _, row in lows.iterrows()
    ]


def transfer_display(table: pd.DataFrame) -> pd.DataFrame:
    """Each row's mean ambiguity under every classifier (its own and the others': does it transfer?)."""
    shown = pd.DataFrame({"method": table["method"].map(DISPLAY_METHODS), "classifier": table["classifier"]})
    for column in [c for c in table.columns if c.startswith("ambiguity_") and c not in RISE]:
        shown[column.removeprefix("ambiguity_")] = table[column].map(lambda v: f"{v:.2f}")
    return shown


def sweep_point(method: str, setting: float, scored: pd.DataFrame, base: pd.DataFrame, classifier: str) -> dict:
    """The paired rise of one sweep point (a guidance scale or a number of DOODL steps)."""
    shared = base[base["index"].isin(scored["index"])]
    rise = results.ambiguity_rise({"base": shared, classifier: scored}).iloc[0]
    return {
        "method": method,
        "setting": setting,
        "classifier": classifier,
        "images": int(rise["images"]),
        "ambiguity": rise["trained"],
        "ambiguity_rise": rise["rise"],
        "ambiguity_rise_low": rise["low"],
        "ambiguity_rise_high": rise["high"],
    }


def sweep_display(sweep: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "method": sweep["method"].map(DISPLAY_METHODS),
            "setting": [
                f"scale {v:g}" if m == "onestep" else f"{v:g} steps" for m, v in zip(sweep["method"], sweep["setting"])
            ],
            "images": sweep["images"],
            "ambiguity": sweep["ambiguity"].map(lambda v: f"{v:.3f}"),
            "rise [95% CI]": [
                f"{r:.3f} [{lo:.3f}, {hi:.3f}]"
                for r, lo, hi in zip(sweep["ambiguity_rise"], sweep["ambiguity_rise_low"], sweep["ambiguity_rise_high"])
            ],
        }
    )
