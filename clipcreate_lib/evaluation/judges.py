"""Held-out judges: style classifiers that no training reward saw, to tell a real rise in style ambiguity
from a model that fooled the one CLIP it was trained against (reward hacking).

Every other ambiguity number is measured in the reward's own CLIP space. The judges live in another:
a judge CLIP (``loaders.load_judge_clip``: another backbone in the paper profile, a second miniature
CLIP trained on other images with another seed in mini, a random CLIP of another seed in tiny) embeds
each label set, and three classifiers are built on those embeddings:

* ``judge-text``: zero-shot logits against the style names, in the judge's space;
* ``judge-kmeans``: k-means refitted in the judge's space, k = the label set's number of styles;
* ``judge-probe``: a scikit-learn logistic regression trained on half of each style's images; its
  accuracy on the other half (printed by notebook 05) says whether the judge sees styles at all.

A judge is a ``StyleClassifier`` like the reward's, so ``style_ambiguity`` scores it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets
import numpy as np
import pandas as pd
import torch
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from clipcreate_lib.config import Config
from clipcreate_lib.data import label_sets
from clipcreate_lib.models import clip_space, loaders
from clipcreate_lib.models.text_encoding import TextCache
from clipcreate_lib.styles import classifiers, text_labels
from clipcreate_lib.styles.classifiers import StyleClassifier
from clipcreate_lib.styles.rewards import style_ambiguity, utility

KINDS = ("text", "kmeans", "probe")
SHORT = {dataset: short for short, dataset in classifiers.DATASETS.items()}  # "mediums" -> "med"


@dataclass
class Judges:
    """The held-out classifiers by name (``judge-<kind>-<full|med>``) and each probe's held-out accuracy."""

    classifiers: dict[str, StyleClassifier]
    probe_accuracy: dict[str, float]  # dataset name -> accuracy on the probe's held-out half
    chance: dict[str, float]  # dataset name -> 1 / number of styles


def name(kind: str, dataset: str) -> str:
    return f"judge-{kind}-{SHORT[dataset]}"


def probe(embeddings: np.ndarray, labels: np.ndarray, seed: int) -> tuple[StyleClassifier, float]:
    """A multinomial logistic-regression probe on half of each class's embeddings, as a classifier whose
    logits are its decision function (their softmax is ``predict_proba``), and its accuracy on the
    other half. Every class needs at least two examples, one on each side."""
    train_x, test_x, train_y, test_y = train_test_split(
        embeddings, labels, test_size=0.5, stratify=labels, random_state=seed
    )
    model = LogisticRegression(max_iter=2000).fit(train_x, train_y)
    if len(model.classes_) < 3:
        raise ValueError(f"A style probe needs at least 3 styles, got {len(model.classes_)}.")
    weight = torch.from_numpy(model.coef_).float()
    bias = torch.from_numpy(model.intercept_).float()
    names = [f"style {c}" for c in model.classes_]
    logits = StyleClassifier(
        "probe", names, lambda images, emb: emb.float() @ weight.T.to(emb.device) + bias.to(emb.device)
    )
    return logits, float(model.score(test_x, test_y))


def build(
    sets: dict[str, datasets.Dataset], clip, processor, batch_size: int, seed: int, n_init: int, temperature: float
) -> Judges:
    """The three judges of every label set in ``sets`` (name -> dataset with ``image`` and ``style``),
    in the space of the judge ``clip``; k-means uses the reward's ``temperature`` and scikit-learn's
    ``n_init`` restarts, the probe and k-means ``seed``."""
    found, accuracy, chance = {}, {}, {}
    for dataset, rows in sets.items():
        embeddings = clip_space.embed_dataset(rows, clip, processor, batch_size, desc=f"judge embeddings {dataset}")
        labels = np.asarray(rows["style"])
        styles = rows.features["style"].names
        with torch.inference_mode():
            label_embeddings = torch.from_numpy(text_labels.embed(styles, clip, processor))
        found[name("text", dataset)] = classifiers.text(label_embeddings, clip.logit_scale, styles)
        centres = KMeans(n_clusters=len(styles), n_init=n_init, random_state=seed).fit(embeddings).cluster_centers_
        found[name("kmeans", dataset)] = classifiers.kmeans(torch.from_numpy(centres), temperature)
        found[name("probe", dataset)], accuracy[dataset] = probe(embeddings, labels, seed)
        chance[dataset] = 1 / len(styles)
    return Judges(found, accuracy, chance)


def for_profile(cfg: Config) -> tuple[object, object, Judges]:
    """The profile's judge CLIP (``models.judge_clip``), its processor and its judges of both label sets,
    built as notebook 05 builds them (k-means with the centroids' seed and restarts and the reward's
    temperature), so every notebook that scores with them scores alike."""
    judge_clip, judge_processor = loaders.load_judge_clip(cfg)
    built = build(
        label_sets.load_label_sets(cfg.profile),
        judge_clip,
        judge_processor,
        cfg.evaluation.score_batch_size,
        cfg.centroids.seed,
        cfg.centroids.n_init,
        cfg.reward.kmeans_temperature,
    )
    return judge_clip, judge_processor, built


def score(images: torch.Tensor, prompts: list[str], clip, processor, judges: Judges, batch_size: int) -> pd.DataFrame:
    """Per image: the judge CLIP's prompt alignment (``judge_alignment``) and the style ambiguity under
    every judge (``ambiguity_<judge>``)."""
    columns: dict[str, list[torch.Tensor]] = {}
    prompt_embeddings = TextCache(lambda texts: clip_space.text_embeddings(texts, clip, processor))
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x, p = images[start : start + batch_size], prompts[start : start + batch_size]
            emb = clip_space.image_embeddings(x, clip, processor)
            terms = {"judge_alignment": utility(emb, prompt_embeddings(p))}
            terms.update({f"ambiguity_{n}": style_ambiguity(c(x, emb)) for n, c in judges.classifiers.items()})
            for key, value in terms.items():
                columns.setdefault(key, []).append(value.float().cpu())
    return pd.DataFrame({k: torch.cat(v).numpy() for k, v in columns.items()})
