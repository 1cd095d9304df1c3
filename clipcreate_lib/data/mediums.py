"""The "mediums" label set: the styles whose captions most often name one of the training prompts' words."""

from __future__ import annotations

import re

import datasets
import pandas as pd

from clipcreate_lib.data.label_sets import features, quiet_datasets
from clipcreate_lib.data.wikiart import WIKIART_STYLES


def mentions_medium(caption: str, words: list[str], match: str) -> bool:
    """Does a caption contain a medium word? "word": as a whole word; "substring": anywhere (reference)."""
    text = caption.lower()
    if match == "substring":
        return any(w.lower() in text for w in words)
    if match == "word":
        return re.search(r"\b(?:" + "|".join(re.escape(w.lower()) for w in words) + r")\b", text) is not None
    raise ValueError(f"Unknown match mode '{match}'; use 'word' or 'substring'.")


def medium_fractions(captions: pd.DataFrame, words: list[str], match: str) -> pd.DataFrame:
    """Per style: the fraction of its captions that mention a medium word, highest first (ties by name)."""
    hits = captions["caption"].map(lambda c: mentions_medium(c, words, match))
    table = (
        captions.assign(hit=hits).groupby("style").agg(fraction=("hit", "mean"), n_images=("hit", "size")).reset_index()
    )
    return table.sort_values(["fraction", "style"], ascending=[False, True], ignore_index=True)


def select_mediums(fractions: pd.DataFrame, n: int) -> list[str]:
    """The ``n`` styles with the highest medium fraction, returned in the label set's original order."""
    if not 1 <= n <= len(fractions):
        raise ValueError(f"data.n_mediums must be between 1 and the {len(fractions)} styles present, got {n}.")
    chosen = set(fractions["style"].head(n))
    return [s for s in sorted(fractions["style"], key=_style_order) if s in chosen]


def _style_order(style: str) -> tuple[int, str]:
    return (WIKIART_STYLES.index(style) if style in WIKIART_STYLES else len(WIKIART_STYLES), style)


def mediums_subset(full: datasets.Dataset, chosen: list[str]) -> datasets.Dataset:
    """Rows of ``full`` whose style is chosen, relabelled 0..len(chosen)-1 in ``chosen`` order."""
    names = full.features["style"].names
    remap = {names.index(s): i for i, s in enumerate(chosen)}
    keep = [i for i, label in enumerate(full["style"]) if label in remap]
    with quiet_datasets():
        subset = full.select(keep)
        new_labels = [remap[label] for label in subset["style"]]
        subset = subset.remove_columns("style").add_column("style", new_labels)
        return subset.cast(features(chosen)).flatten_indices()
