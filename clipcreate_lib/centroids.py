"""k-means in CLIP image space: the centres the k-means classifier measures distances to."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from tqdm.auto import tqdm


def check_k(k: int, n_points: int, what: str) -> None:
    if k < 1:
        raise ValueError(f"{what}: k must be at least 1, got {k}.")
    if k > n_points:
        raise ValueError(f"{what}: k = {k} is larger than the {n_points} images to cluster; choose k <= {n_points}.")


def sweep(embeddings: np.ndarray, ks: list[int], seed: int, n_init: int,
          what: str) -> tuple[pd.DataFrame, dict[int, np.ndarray]]:
    """k-means for each k: the inertia table (the elbow plot's data) and the centroids (k, D) of each k.

    Every k is checked before any fit, so a k larger than the data fails at once, not after an hour.
    """
    ks = sorted(set(ks))
    for k in ks:
        check_k(k, len(embeddings), what)
    rows, centres = [], {}
    for k in tqdm(ks, desc=f"k-means {what}", unit="k"):
        km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(embeddings)
        rows.append({"dataset": what, "k": k, "inertia": float(km.inertia_)})
        centres[k] = km.cluster_centers_.astype(np.float32)
    return pd.DataFrame(rows), centres
