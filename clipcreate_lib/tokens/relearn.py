"""Re-learning a word for balance: the ambiguity of the "painting ..." images under the six
classifiers with the word as the model has it and as re-learned on a style-balanced sample (the
same seeds, so the change is paired image by image), next to the DDPO models' own images of the same
prompts from notebook 05. Ambiguity is -CE(C(x), U), the DDPO reward's style term (at most -log N)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from clipcreate_lib import paths, stats
from clipcreate_lib.evaluation import scoring
from clipcreate_lib.styles.rewards import style_ambiguity


def ambiguity(logits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per classifier, each image's -CE(softmax(logits), U)."""
    return {name: style_ambiguity(torch.from_numpy(v)).numpy() for name, v in logits.items()}


def table(before: dict, after: dict, models: list[str], word: str, confidence: float) -> pd.DataFrame:
    """One row per image set and classifier: mean ambiguity (t interval) and, for the re-learned word,
    its paired change from the untouched word. ``before``/``after``: per classifier, per-image ambiguity."""
    rows = []
    for name in before:
        for label, values in ((f"{word} (as trained)", before[name]), (f"{word} (re-learned)", after[name])):
            rows.append(_row(label, name, pd.Series(values), confidence))
        change = pd.Series(after[name] - before[name])
        rows[-1].update(change=change.mean(), change_half=stats.t_half_width(change, confidence))
        for model in models:
            scored = pd.read_csv(paths.eval_dir(model) / scoring.SCORES)
            values = scored.loc[scored["prompt"].str.startswith("painting"), f"ambiguity_{name}"]
            rows.append(_row(f"eval: {model}", name, values.reset_index(drop=True), confidence))
    return pd.DataFrame(rows)


def _row(image_set: str, classifier: str, values: pd.Series, confidence: float) -> dict:
    return dict(
        image_set=image_set,
        classifier=classifier,
        n=len(values),
        ambiguity=values.mean(),
        ambiguity_half=stats.t_half_width(values, confidence),
        change=np.nan,
        change_half=np.nan,
    )


def display(numbers: pd.DataFrame) -> pd.DataFrame:
    """Image sets as rows, classifiers as columns: mean ambiguity ± half-width (and the paired change)."""
    cell = [
        f"{a:.3f} ± {h:.3f}" + ("" if np.isnan(c) else f" ({c:+.3f} ± {ch:.3f})")
        for a, h, c, ch in zip(*(numbers[k] for k in ("ambiguity", "ambiguity_half", "change", "change_half")))
    ]
    shown = numbers.assign(cell=cell).pivot(index="image_set", columns="classifier", values="cell")
    order = list(dict.fromkeys(numbers["image_set"]))
    return shown.loc[order, list(dict.fromkeys(numbers["classifier"]))].reset_index()
