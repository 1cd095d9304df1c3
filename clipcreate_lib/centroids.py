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


def fit_centroids(embeddings: np.ndarray, k: int, seed: int, n_init: int, what: str = "k-means") -> np.ndarray:
    """k-means centroids (k, D) of the embeddings, float32."""
    check_k(k, len(embeddings), what)
    km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(embeddings)
    return km.cluster_centers_.astype(np.float32)


def inertia_curve(embeddings: np.ndarray, ks: list[int], seed: int, n_init: int, what: str) -> pd.DataFrame:
    """Within-cluster sum of squares for each k (the elbow plot's data)."""
    rows = []
    for k in tqdm(ks, desc=f"k-means {what}", unit="k"):
        check_k(k, len(embeddings), what)
        km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(embeddings)
        rows.append({"dataset": what, "k": k, "inertia": float(km.inertia_)})
    return pd.DataFrame(rows)
