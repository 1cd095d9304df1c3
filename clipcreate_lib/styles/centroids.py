"""k-means in CLIP image space: the centres the k-means classifier measures distances to.

Notebook 02 embeds the label sets with CLIP (``embed_label_sets``, cached), fits the centroids
(``sweep``) and saves them with their provenance (``save``); ``load`` gives them back only while the
label set and the CLIP model they were made with are the ones in use.
"""

from __future__ import annotations

import datasets
import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from transformers import CLIPModel, CLIPProcessor

from clipcreate_lib import artifacts, paths
from clipcreate_lib.data import label_sets
from clipcreate_lib.models import clip_space
from clipcreate_lib.progress import bar

NOTEBOOK = "02_centroids"


def check_k(k: int, n_points: int, what: str) -> None:
    if k < 1:
        raise ValueError(f"{what}: k must be at least 1, got {k}.")
    if k > n_points:
        raise ValueError(f"{what}: k = {k} is larger than the {n_points} images to cluster; choose k <= {n_points}.")


def sweep(
    embeddings: np.ndarray, ks: list[int], seed: int, n_init: int, what: str
) -> tuple[pd.DataFrame, dict[int, np.ndarray]]:
    """k-means for each k: the inertia table (the elbow plot's data) and the centroids (k, D) of each k.

    Every k is checked before any fit, so a k larger than the data fails at once, not after an hour.
    """
    ks = sorted(set(ks))
    for k in ks:
        check_k(k, len(embeddings), what)
    rows, centres = [], {}
    for k in bar(ks, desc=f"k-means {what}", unit="k"):
        km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(embeddings)
        rows.append({"dataset": what, "k": k, "inertia": float(km.inertia_)})
        centres[k] = km.cluster_centers_.astype(np.float32)
    return pd.DataFrame(rows), centres


def embeddings_made_from(full: datasets.Dataset, clip_name: str) -> dict:
    """What the full dataset's embeddings depend on: the dataset, its length and the CLIP model."""
    return {"dataset": label_sets.record("full"), "rows": len(full), "clip": clip_name}


def embed_label_sets(
    sets: dict[str, datasets.Dataset], clip: CLIPModel, processor: CLIPProcessor, batch_size: int, clip_name: str
) -> tuple[dict[str, np.ndarray], bool]:
    """L2-normalised CLIP image embeddings of both label sets, row-aligned with them, and whether the
    full dataset's were reused: they are cached while ``embeddings_made_from`` holds, and mediums,
    a subset of full, gets the matching rows."""
    path = paths.embeddings_file("full")

    def rebuild() -> np.ndarray:
        embeddings = clip_space.embed_dataset(sets["full"], clip, processor, batch_size)
        artifacts.save_npy(path, embeddings)
        return embeddings

    made_from = embeddings_made_from(sets["full"], clip_name)
    full, reused = artifacts.reuse_or_rebuild(path, made_from, rebuild, lambda: np.load(path))
    row_of = {idx: i for i, idx in enumerate(sets["full"]["source_index"])}
    mediums = full[[row_of[i] for i in sets["mediums"]["source_index"]]]
    artifacts.save_npy(paths.embeddings_file("mediums"), mediums)
    return {"full": full, "mediums": mediums}, reused


def save(name: str, centres: np.ndarray, embeddings_record: dict, seed: int, n_init: int) -> None:
    """Save a label set's centroids with what they were fitted on (its embeddings and dataset) and how."""
    path = paths.centroids_file(name)
    artifacts.save_npy(path, centres)
    artifacts.mark_made_from(
        path,
        {
            **embeddings_record,
            "subset": name,
            "k": len(centres),
            "seed": seed,
            "n_init": n_init,
            "data": label_sets.record(name),
        },
    )


def load(name: str, clip_name: str) -> np.ndarray:
    """A label set's centroids (k, D), refused unless made from the label set saved now and with ``clip_name``."""
    path = paths.centroids_file(name)
    made_from = artifacts.require_made_from(path, NOTEBOOK)
    label_sets.require_same_data(path, made_from, name, NOTEBOOK)
    artifacts.require_value(path, made_from, "clip", clip_name, NOTEBOOK)
    return np.load(path)


def load_embeddings(clip_name: str) -> np.ndarray:
    """The full label set's CLIP image embeddings (N, D) notebook 02 cached, refused unless made with
    ``clip_name`` from the dataset saved now (what novelty measures distances to, notebook 05)."""
    path = paths.embeddings_file("full")
    made_from = artifacts.require_made_from(path, NOTEBOOK)
    if made_from.get("dataset") != label_sets.record("full"):
        raise RuntimeError(
            f"{path} was made from another full dataset than the one saved now; rerun notebook {NOTEBOOK}."
        )
    artifacts.require_value(path, made_from, "clip", clip_name, NOTEBOOK)
    return np.load(path)
