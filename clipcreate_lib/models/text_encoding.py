"""Texts into a frozen text encoder: Stable Diffusion's prompt states, and a cache for texts that repeat."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from diffusers import StableDiffusionPipeline


@torch.no_grad()
def encode_prompts(pipe: StableDiffusionPipeline, prompts: Sequence[str]) -> torch.Tensor:
    """Text-encoder hidden states (N, 77, D), padded to the tokenizer's full length as SD does."""
    tokens = pipe.tokenizer(
        list(prompts),
        padding="max_length",
        truncation=True,
        max_length=pipe.tokenizer.model_max_length,
        return_tensors="pt",
    )
    return pipe.text_encoder(tokens.input_ids.to(pipe.text_encoder.device))[0]


class TextCache:
    """``cache(texts) -> encode(texts) stacked``, each distinct text encoded once: a frozen encoder
    gives a text the same rows every time, and training texts repeat across batches. Texts not seen
    yet are encoded together, in the order they first appear."""

    def __init__(self, encode: Callable[[list[str]], torch.Tensor]):
        self.encode = encode
        self.rows: dict[str, torch.Tensor] = {}

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        missing = [t for t in dict.fromkeys(texts) if t not in self.rows]
        if missing:
            self.rows.update(zip(missing, self.encode(missing)))
        return torch.stack([self.rows[t] for t in texts])
