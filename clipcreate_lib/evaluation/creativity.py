"""Creativity and diversity of a model's evaluation images beyond the mean pairwise distance: the Vendi
score, novelty against the dataset, and a memorisation check; all on L2-normalised CLIP embeddings.

* Vendi score (Friedman and Dieng 2023, the ``vendi-score`` package): the exponential of the entropy
  of the eigenvalues of the images' cosine-similarity matrix / n, an "effective number of distinct
  images": 1 when all are the same, n when all are orthogonal. Given over all images and as the mean
  over prompts (diversity for one prompt, where a collapse to one picture per prompt shows).
* Novelty: each image's cosine distance to its nearest dataset image, averaged.
* Memorised share: the fraction of images whose nearest dataset image is closer than a threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from vendi_score import vendi


def vendi_score(embeddings: torch.Tensor | np.ndarray) -> float:
    """The Vendi score (order q = 1) of a set of embeddings under cosine similarity."""
    x = np.asarray(embeddings, dtype=np.float64)
    if len(x) < 1:
        raise ValueError("The Vendi score needs at least one image.")
    return float(vendi.score_dual(x, q=1, normalize=True))


def vendi_per_prompt(embeddings: torch.Tensor | np.ndarray, prompts: Sequence[str]) -> float:
    """The mean over distinct prompts of the Vendi score of that prompt's images."""
    x, groups = np.asarray(embeddings, dtype=np.float64), np.asarray(prompts)
    return float(np.mean([vendi_score(x[groups == p]) for p in dict.fromkeys(prompts)]))


def nearest_distances(embeddings: torch.Tensor | np.ndarray, dataset: np.ndarray) -> np.ndarray:
    """Each image's cosine distance 1 - cos to its nearest dataset embedding (both L2-normalised here)."""
    x = torch.nn.functional.normalize(torch.as_tensor(np.asarray(embeddings), dtype=torch.float64), dim=-1)
    d = torch.nn.functional.normalize(torch.as_tensor(np.asarray(dataset), dtype=torch.float64), dim=-1)
    return (1 - (x @ d.T).max(dim=1).values).numpy()


def novelty(embeddings, dataset: np.ndarray, threshold: float) -> dict[str, float]:
    """``novelty`` (mean nearest-neighbour distance to the dataset) and ``memorised`` (the share of
    images nearer to a dataset image than ``threshold``)."""
    distances = nearest_distances(embeddings, dataset)
    return {"novelty": float(distances.mean()), "memorised": float((distances < threshold).mean())}
