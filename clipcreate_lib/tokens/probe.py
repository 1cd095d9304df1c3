"""Does a learned token carry its style? Images of one style's three prompts (by the token, in the
style's name, bare; the same subjects and seeds) are classified by the six classifiers, and each
is scored on whether the classifier names the style (accuracy, Wilson interval) and how much
probability it gives it (confidence, Student t interval); the token's gain over the name prompt is
the paired difference of confidence on the same seeds.

The text and disc classifiers name styles; a label set without the style gives no row. The k-means
classifier names clusters: its target for a style is the cluster most of the style's data images
are nearest to (notebook 02's embeddings), so its accuracy says whether the images land where the
style's paintings do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy import special
from scipy import stats as scipy_stats

from clipcreate_lib import paths, stats
from clipcreate_lib.models import clip_space
from clipcreate_lib.styles import classifiers
from clipcreate_lib.styles.classifiers import StyleClassifier


def kmeans_targets(classifier: StyleClassifier, dataset: str, ds) -> dict[str, int]:
    """Per style of ``ds``: the centroid most of its images' CLIP embeddings are nearest to."""
    emb = torch.from_numpy(np.load(paths.embeddings_file(dataset)))
    with torch.inference_mode():
        nearest = classifier(torch.empty(0), emb).argmax(dim=1).cpu().numpy()
    labels, names = np.asarray(ds["style"]), ds.features["style"].names
    return {s: int(np.bincount(nearest[labels == k]).argmax()) for k, s in enumerate(names) if (labels == k).any()}


def targets(found: dict[str, StyleClassifier], sets: dict, style: str) -> dict[str, int]:
    """The class index that means ``style`` under each classifier that has one."""
    out = {}
    for name, classifier in found.items():
        kind, dataset = classifiers.split_model_name(name)
        if kind == "kmeans":
            target = kmeans_targets(classifier, dataset, sets[dataset]).get(style)
        else:
            target = classifier.labels.index(style) if style in classifier.labels else None
        if target is not None:
            out[name] = target
    return out


@torch.inference_mode()
def logits(images: torch.Tensor, found: dict[str, StyleClassifier], clip, processor, batch: int) -> dict:
    """Every classifier's style logits (N, K) for ``images`` in [0, 1]."""
    out: dict[str, list] = {name: [] for name in found}
    for start in range(0, len(images), batch):
        x = images[start : start + batch]
        emb = clip_space.image_embeddings(x, clip, processor)
        for name, classifier in found.items():
            out[name].append(classifier(x, emb).float().cpu().numpy())
    return {name: np.concatenate(parts) for name, parts in out.items()}


def wilson(hits: int, n: int, confidence: float) -> tuple[float, float]:
    """The Wilson score interval of a proportion (scipy's binomtest)."""
    interval = scipy_stats.binomtest(hits, n).proportion_ci(confidence, method="wilson")
    return float(interval.low), float(interval.high)


def rows(style: str, found: dict[str, dict], target: dict[str, int], confidence: float) -> list[dict]:
    """One row per classifier for ``style``: accuracy and confidence per prompt kind, intervals, and the
    token's paired confidence gain over the name prompt. ``found[kind][classifier]`` is logits (N, K)."""
    probs = {kind: {c: special.softmax(v, axis=1) for c, v in by.items()} for kind, by in found.items()}
    out = []
    for name, k in target.items():
        row: dict = {"style": style, "classifier": name, "n": len(probs["token"][name])}
        for kind, by_classifier in probs.items():
            p = by_classifier[name]
            hits = int((p.argmax(axis=1) == k).sum())
            row[f"accuracy_{kind}"] = hits / len(p)
            row[f"accuracy_{kind}_low"], row[f"accuracy_{kind}_high"] = wilson(hits, len(p), confidence)
            row[f"confidence_{kind}"] = float(p[:, k].mean())
            row[f"confidence_{kind}_half"] = float(stats.t_half_width(pd.Series(p[:, k]), confidence))
        gain = pd.Series(probs["token"][name][:, k] - probs["name"][name][:, k])
        row["gain_over_name"] = float(gain.mean())
        row["gain_over_name_half"] = float(stats.t_half_width(gain, confidence))
        out.append(row)
    return out


def display(table: pd.DataFrame) -> pd.DataFrame:
    """The style-tokens table as shown: accuracy [interval] and confidence ± half-width per prompt kind."""
    shown = {"style": table["style"], "classifier": table["classifier"], "n": table["n"]}
    for kind in ("token", "name", "bare"):
        shown[f"accuracy ({kind})"] = [
            f"{a:.2f} [{lo:.2f}, {hi:.2f}]"
            for a, lo, hi in zip(*(table[f"accuracy_{kind}{s}"] for s in ("", "_low", "_high")))
        ]
        shown[f"confidence ({kind})"] = [
            f"{c:.3f} ± {h:.3f}" for c, h in zip(table[f"confidence_{kind}"], table[f"confidence_{kind}_half"])
        ]
    gains = zip(table["gain_over_name"], table["gain_over_name_half"])
    shown["token − name"] = [f"{g:+.3f} ± {h:.3f}" for g, h in gains]
    return pd.DataFrame(shown)
