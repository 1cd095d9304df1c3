"""Scores of a set of evaluation images: AVA and ImageReward (Table I) and the automated creativity
proxies (style ambiguity under every classifier, diversity, prompt alignment)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
import torch

from clipcreate_lib.models import clip_space
from clipcreate_lib.models.text_encoding import TextCache
from clipcreate_lib.styles.rewards import style_ambiguity, utility

SCORES = "scores.csv"  # every score of every image, saved beside the images


def score(
    images: torch.Tensor,
    prompts: Sequence[str],
    clip,
    processor,
    aesthetic: Callable[[torch.Tensor], torch.Tensor],
    image_reward: Callable[[torch.Tensor, Sequence[str]], torch.Tensor],
    classifiers: dict,
    batch_size: int,
) -> tuple[pd.DataFrame, torch.Tensor]:
    """Per image: AVA (``ava``), ImageReward (``ir``), CLIP prompt alignment (``alignment``) and style
    ambiguity under each classifier (``ambiguity_<name>``); also the CLIP image embeddings (N, D)."""
    columns: dict[str, list[torch.Tensor]] = {}
    embeddings = []
    # the images share 24 prompts (image i has prompt i mod 24): each is encoded once
    prompt_embeddings = TextCache(lambda texts: clip_space.text_embeddings(texts, clip, processor))
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x, p = images[start : start + batch_size], list(prompts[start : start + batch_size])
            emb = clip_space.image_embeddings(x, clip, processor)
            embeddings.append(emb.cpu())
            terms = {
                "ava": aesthetic(emb.float()),
                "ir": image_reward(x, p),
                "alignment": utility(emb, prompt_embeddings(p)),
            }
            for name, classifier in classifiers.items():
                terms[f"ambiguity_{name}"] = style_ambiguity(classifier(x, emb))
            for key, value in terms.items():
                columns.setdefault(key, []).append(value.float().cpu())
    return pd.DataFrame({k: torch.cat(v).numpy() for k, v in columns.items()}), torch.cat(embeddings)


def diversity(embeddings: torch.Tensor) -> float:
    """Mean cosine distance 1 - cos(e_i, e_j) over all pairs i < j of L2-normalised embeddings."""
    e = torch.nn.functional.normalize(embeddings.double(), dim=-1)
    n = len(e)
    if n < 2:
        raise ValueError("Diversity needs at least two images.")
    cos = e @ e.T
    return float(1 - (cos.sum() - cos.diagonal().sum()) / (n * (n - 1)))
