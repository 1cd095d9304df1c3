"""The training reward R = lambda_nov * ambiguity + lambda_util * utility (+ lambda_ir * ImageReward).

ambiguity = -CE(softmax(logits), U) = (1/N) sum_k log softmax(logits)_k, at most -log N, reached
exactly when the classifier cannot tell the styles apart. The paper's printed formula drops the
minus sign; its TL;DR and the reference code maximise -CE, and so do we. utility is the plain cosine
between the CLIP embeddings of the prompt and of the image (no x100 logit scale).

``reward_fn`` follows ddpo-pytorch's reward factories: it returns ``fn(images, prompts)`` giving,
per image, the total and every term, so each term can be logged and plotted on its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from clipcreate_lib.config import RewardConfig
from clipcreate_lib.models import clip_space
from clipcreate_lib.models.text_encoding import TextCache
from clipcreate_lib.styles.classifiers import StyleClassifier, kmeans

RewardTerms = dict[str, torch.Tensor]


def style_ambiguity(logits: torch.Tensor) -> torch.Tensor:
    """-CE(softmax(logits), uniform) per row: mean over classes of log softmax (shape (B,))."""
    return F.log_softmax(logits.float(), dim=-1).mean(dim=-1)


def kmeans_temperature_sweep(
    embeddings: torch.Tensor, centroids: torch.Tensor, temperatures: Sequence[float]
) -> list[dict[str, float]]:
    """The k-means classifier at each temperature on ``embeddings``: mean ambiguity (ceiling -log k),
    mean top-class probability (1/k when flat) and mean entropy / log k (1 when flat). Its logits
    1/(T d) change fast near a centroid and slowly far from all of them (d up to 2 for normalised
    embeddings), so how flat it is depends on where the images lie as much as on T."""
    rows = []
    for temperature in temperatures:
        logits = kmeans(centroids, temperature)(None, embeddings)
        log_p = F.log_softmax(logits.float(), dim=-1)
        p = log_p.exp()
        entropy = -(p * log_p).sum(dim=-1) / math.log(logits.shape[-1])
        rows.append(
            {
                "temperature": temperature,
                "ambiguity": style_ambiguity(logits).mean().item(),
                "top_probability": p.max(dim=-1).values.mean().item(),
                "normalised_entropy": entropy.mean().item(),
            }
        )
    return rows


def utility(image_embeddings: torch.Tensor, prompt_embeddings: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of matching rows (shape (B,))."""
    return F.cosine_similarity(image_embeddings.float(), prompt_embeddings.float(), dim=-1)


def reward_fn(
    classifier: StyleClassifier,
    clip,
    processor,
    weights: RewardConfig,
    image_reward: Callable[[torch.Tensor, Sequence[str]], torch.Tensor] | None = None,
) -> Callable[[torch.Tensor, Sequence[str]], RewardTerms]:
    """``fn(images in [0, 1] (B, 3, H, W), prompts) -> {"reward", "ambiguity", "utility"[, "image_reward"]}``,
    each a float tensor (B,) on CLIP's device, computed without gradients (what DDPO scores samples
    with). ``image_reward`` scores (images, prompts); it is required exactly when
    ``weights.image_reward_weight`` is not 0."""
    return torch.no_grad()(differentiable_reward_fn(classifier, clip, processor, weights, image_reward))


def differentiable_reward_fn(
    classifier: StyleClassifier,
    clip,
    processor,
    weights: RewardConfig,
    image_reward: Callable[[torch.Tensor, Sequence[str]], torch.Tensor] | None = None,
) -> Callable[[torch.Tensor, Sequence[str]], RewardTerms]:
    """``reward_fn``'s terms with the autograd graph kept, so a sampler can follow the reward's gradient
    back to the pixels (notebook 07's guidance); the same numbers as ``reward_fn``."""
    if weights.image_reward_weight != 0 and image_reward is None:
        raise ValueError("reward.image_reward_weight is not 0, so an ImageReward scorer must be given.")
    prompt_embeddings = TextCache(lambda prompts: clip_space.text_embeddings(prompts, clip, processor))

    def fn(images: torch.Tensor, prompts: Sequence[str]) -> RewardTerms:
        if len(prompts) != len(images):
            raise ValueError(f"Got {len(images)} images but {len(prompts)} prompts.")
        embeddings = clip_space.image_embeddings(images, clip, processor)
        with torch.no_grad():  # the prompts' embeddings are constants of the reward
            texts = prompt_embeddings(prompts)
        terms = {
            "ambiguity": style_ambiguity(classifier(images, embeddings)),
            "utility": utility(embeddings, texts),
        }
        total = weights.novelty_weight * terms["ambiguity"] + weights.utility_weight * terms["utility"]
        if weights.image_reward_weight != 0:
            terms["image_reward"] = image_reward(images, prompts).float().to(total.device)
            total = total + weights.image_reward_weight * terms["image_reward"]
        return {"reward": total, **terms}

    return fn
