"""Three ways to turn images into style logits, the C(x) of the style-ambiguity reward (docs/method.md).

* ``text``: CLIP's image-text logits (CLIP's own logit scale) against every style name of a label set.
* ``kmeans``: inverse Euclidean distances of the image's CLIP embedding to k-means centroids.
* ``disc``: the style head of a CAN discriminator, always in eval mode.

A classifier is called as ``classifier(images, embeddings)``: images (B, 3, H, W) in [0, 1] and their
L2-normalised CLIP image embeddings. The reward computes the embeddings once (it needs them for the
utility term too), so the CLIP-based classifiers never run CLIP a second time; ``disc`` reads pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from clipcreate_lib import paths
from clipcreate_lib.config import Config
from clipcreate_lib.models import loaders
from clipcreate_lib.styles import can, centroids, text_labels

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
    source_file(kind, dataset)  # an unknown kind is named before any file is read
    if kind == "disc":
        return disc(*can.load_published(dataset, cfg.profile, device))
    clip_name = loaders.model_name(cfg.models, "clip")
    if kind == "clip":
        embeddings, labels = text_labels.load(dataset, clip_name)
        return text(torch.from_numpy(embeddings).to(device), clip.logit_scale, labels)
    return kmeans(torch.from_numpy(centroids.load(dataset, clip_name)).to(device), cfg.reward.kmeans_temperature)
