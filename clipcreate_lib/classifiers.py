"""Three ways to turn images into style logits, the C(x) of the style-ambiguity reward (PAPER.md §1).

* ``text``: CLIP's image-text logits (CLIP's own logit scale) against every style name of a label set.
* ``kmeans``: inverse Euclidean distances of the image's CLIP embedding to k-means centroids.
* ``disc``: the style head of a CAN discriminator, always in eval mode.

A classifier is called as ``classifier(images, embeddings)``: images (B, 3, H, W) in [0, 1] and their
L2-normalised CLIP image embeddings. The reward computes the embeddings once (it needs them for the
utility term too), so the CLIP-based classifiers never run CLIP a second time; ``disc`` reads pixels.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from clipcreate_lib import artifacts, can, models as model_lib, paths
from clipcreate_lib.config import Config

KINDS = ("disc", "clip", "kmeans")  # "clip" is the paper's text classifier; load() also takes "text"
DATASETS = {"full": "full", "med": "mediums"}


@dataclass
class StyleClassifier:
    """Style logits (B, N) from images in [0, 1] and their CLIP embeddings; ``labels`` names the N classes."""

    kind: str
    labels: list[str]
    logits_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

    def __call__(self, images: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        return self.logits_fn(images, embeddings)


def text(label_embeddings: torch.Tensor, logit_scale: torch.Tensor, labels: list[str]) -> StyleClassifier:
    """CLIP zero-shot logits: scale * cos(image, label text), as ``CLIPModel`` computes logits_per_image."""
    scale = logit_scale.detach().exp().float()
    label_embeddings = F.normalize(label_embeddings.float(), dim=-1)
    return StyleClassifier("clip", labels, lambda images, emb: scale * emb @ label_embeddings.to(emb.device).T)


def kmeans(centroids: torch.Tensor, temperature: float = 1.0) -> StyleClassifier:
    """Logits 1 / (temperature * ||E(x) - c_k||) for the k centroids (the reference code's temperature is 1)."""
    if temperature <= 0:
        raise ValueError(f"The k-means temperature must be positive, got {temperature}.")
    centroids = centroids.float()

    def logits(images: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        distances = torch.cdist(emb.float(), centroids.to(emb.device))
        return 1.0 / (temperature * distances.clamp_min(1e-12))

    return StyleClassifier("kmeans", [f"cluster {k}" for k in range(len(centroids))], logits)


def disc(discriminator: torch.nn.Module, labels: list[str]) -> StyleClassifier:
    """The CAN discriminator's style logits; images are resized to its resolution and mapped to [-1, 1]."""
    discriminator.eval()  # the reference code scored with BatchNorm and Dropout in training mode
    size = discriminator.image_size

    def logits(images: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        param = next(discriminator.parameters())
        x = can.resize(images.to(param.device, torch.float32), size)
        return discriminator(can.to_disc_range(x).to(param.dtype))[1].float()

    return StyleClassifier("disc", labels, logits)


def split_model_name(name: str) -> tuple[str, str]:
    """'kmeans-med' -> ('kmeans', 'mediums'): the classifier kind and the dataset of a model name."""
    kind, _, short = name.partition("-")
    if kind not in KINDS or short not in DATASETS:
        raise ValueError(f"Model name '{name}' is not <{'|'.join(KINDS)}>-<{'|'.join(DATASETS)}>.")
    return kind, DATASETS[short]


def source_file(kind: str, dataset: str) -> Path:
    """The file a classifier is built from (its provenance JSON says what made it)."""
    files = {"disc": "can_discriminator_file", "clip": "text_embeddings_file", "kmeans": "centroids_file"}
    if kind not in files:
        raise ValueError(f"Unknown classifier '{kind}'; choose one of {', '.join(KINDS)}.")
    return getattr(paths, files[kind])(dataset)


def load(kind: str, dataset: str, cfg: Config, clip) -> StyleClassifier:
    """The classifier of one kind for one dataset, from the files notebooks 02 (centroids, text
    embeddings, labels) and 03 (discriminator) wrote; each must have been made from the dataset
    notebook 01 holds now (rerun with other mediums, say, it voids them), for this profile and,
    for the CLIP-based ones, with the CLIP model the reward uses now."""
    device = next(clip.parameters()).device
    kind = "clip" if kind == "text" else kind
    path = source_file(kind, dataset)
    notebook = "03_can" if kind == "disc" else "02_centroids"
    if not path.exists() or not artifacts.provenance_file(path).exists():
        raise FileNotFoundError(f"{path} is missing; run notebook {notebook} first.")
    made_from = artifacts.read_made_from(path)
    _check_data(path, made_from, dataset, notebook)
    if kind == "disc":
        _check_value(path, made_from, "profile", cfg.profile, notebook)
        discriminator, labels = can.load_discriminator(path, device)
        return disc(discriminator, labels)
    _check_value(path, made_from, "clip", model_lib.model_name(cfg.models, "clip"), notebook)
    if kind == "clip":
        labels = json.loads(paths.labels_file(dataset).read_text())
        return text(torch.from_numpy(np.load(path)).to(device), clip.logit_scale, labels)
    return kmeans(torch.from_numpy(np.load(path)).to(device), cfg.reward.kmeans_temperature)


def _check_data(path: Path, made_from: dict, dataset: str, notebook: str) -> None:
    """``path`` records the provenance of the dataset it was made from; it must be the dataset's now."""
    folder = paths.dataset_dir(dataset)
    recorded = made_from.get("data")
    if recorded is None:
        raise RuntimeError(f"{path} does not record the dataset it was made from (an older notebook {notebook} "
                           f"wrote it); rerun notebook {notebook}.")
    changed = artifacts.changed_keys(recorded, artifacts.read_made_from(folder))
    if changed:
        raise RuntimeError(f"{path} was made from another {dataset} dataset than {folder} holds now (it differs in "
                           f"{', '.join(changed)}); rerun notebook {notebook}.")


def _check_value(path: Path, made_from: dict, key: str, expected: str, notebook: str) -> None:
    found = made_from.get(key)
    if found != expected:
        raise RuntimeError(f"{path} was made for {key} '{found}', not '{expected}'; rerun notebook {notebook}.")
