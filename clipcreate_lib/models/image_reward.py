"""ImageReward-v1.0 (Xu et al. 2023) on transformers' own BLIP classes.

The PyPI package ``image-reward`` cannot run beside this stack (it needs torchvision, ``openai-clip``
and transformers helpers that version 5 removed), so this is a port of its scorer: BLIP's ViT encodes
the image, BLIP's BERT text encoder reads the prompt while cross-attending to the image, and an MLP
head maps the [CLS] output to a score, standardised with the released mean and std. The released
``ImageReward.pt`` loads through ``map_checkpoint``: its text-encoder names are transformers' already,
the timm-style ViT names need nine renames, and the contrastive projections are unused.
``tests/test_image_reward.py`` loads a tiny checkpoint of the original code through the same mapping
and reproduces the original code's scores.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from transformers import BertTokenizer, BlipTextConfig, BlipTextModel, BlipVisionConfig, BlipVisionModel

from clipcreate_lib.models.clip_space import resize_crop_normalise

# The released model's score standardisation (ImageReward.py: (score - mean) / std).
SCORE_MEAN, SCORE_STD = 0.16717362830052426, 1.0333394966054072
# Prompts are padded and truncated to 35 tokens, as the original scorer does.
MAX_TOKENS = 35
# ImageReward's preprocessing: OpenAI CLIP's mean and std after a bicubic resize and center crop.
PIXEL_MEAN = (0.48145466, 0.4578275, 0.40821073)
PIXEL_STD = (0.26862954, 0.26130258, 0.27577711)

# timm ViT names (the released checkpoint's BLIP visual encoder) -> transformers' BlipVisionModel.
_VISION_RENAMES = [
    (r"^cls_token$", "embeddings.class_embedding"),
    (r"^pos_embed$", "embeddings.position_embedding"),
    (r"^patch_embed\.proj\.", "embeddings.patch_embedding."),
    (r"^blocks\.(\d+)\.norm1\.", r"encoder.layers.\1.layer_norm1."),
    (r"^blocks\.(\d+)\.norm2\.", r"encoder.layers.\1.layer_norm2."),
    (r"^blocks\.(\d+)\.attn\.qkv\.", r"encoder.layers.\1.self_attn.qkv."),
    (r"^blocks\.(\d+)\.attn\.proj\.", r"encoder.layers.\1.self_attn.projection."),
    (r"^blocks\.(\d+)\.mlp\.", r"encoder.layers.\1.mlp."),
    (r"^norm\.", "post_layernorm."),
]
# Released weights that the score does not use.
_UNUSED = ("blip.vision_proj.", "blip.text_proj.", "blip.text_encoder.embeddings.position_ids")


@dataclass(frozen=True)
class Size:
    """The architecture's dimensions; ``FULL`` is the released model, ``TINY`` the test fixture's."""

    image_size: int
    patch_size: int
    vision_width: int
    vision_layers: int
    vision_heads: int
    text_width: int
    text_layers: int
    text_heads: int
    text_intermediate: int
    vocab_size: int
    max_positions: int


FULL = Size(
    image_size=224,
    patch_size=16,
    vision_width=1024,
    vision_layers=24,
    vision_heads=16,
    text_width=768,
    text_layers=12,
    text_heads=12,
    text_intermediate=3072,
    vocab_size=30524,
    max_positions=512,
)
TINY = Size(
    image_size=32,
    patch_size=16,
    vision_width=64,
    vision_layers=2,
    vision_heads=2,
    text_width=32,
    text_layers=2,
    text_heads=2,
    text_intermediate=64,
    vocab_size=130,
    max_positions=64,
)


class ScoreHead(nn.Module):
    """The MLP of ImageReward and of the AVA aesthetic predictor: d -> 1024 -> 128 -> 64 -> 16 -> 1,
    dropout 0.2, 0.2, 0.1 and no activations, exactly as released (so their weights load by name)."""

    def __init__(self, in_features: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(in_features, 1024),
            nn.Dropout(0.2),
            nn.Linear(1024, 128),
            nn.Dropout(0.2),
            nn.Linear(128, 64),
            nn.Dropout(0.1),
            nn.Linear(64, 16),
            nn.Linear(16, 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features).squeeze(-1)


class ImageReward(nn.Module):
    """Score (B,) of (image, prompt) pairs; higher = preferred by ImageReward's human raters."""

    def __init__(self, size: Size = FULL):
        super().__init__()
        self.size = size
        self.vision = BlipVisionModel(
            BlipVisionConfig(
                image_size=size.image_size,
                patch_size=size.patch_size,
                hidden_size=size.vision_width,
                intermediate_size=4 * size.vision_width,
                num_hidden_layers=size.vision_layers,
                num_attention_heads=size.vision_heads,
                layer_norm_eps=1e-6,
                hidden_act="gelu",
            )
        )
        self.text = BlipTextModel(
            BlipTextConfig(
                vocab_size=size.vocab_size,
                hidden_size=size.text_width,
                num_hidden_layers=size.text_layers,
                num_attention_heads=size.text_heads,
                intermediate_size=size.text_intermediate,
                max_position_embeddings=size.max_positions,
                encoder_hidden_size=size.vision_width,
                layer_norm_eps=1e-12,
                hidden_act="gelu",
                is_decoder=True,  # is_decoder: build cross-attention
                bos_token_id=None,
                pad_token_id=0,
            ),
            add_pooling_layer=False,
        )
        self.mlp = ScoreHead(size.text_width)

    def forward(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        image = self.vision(pixel_values=pixel_values).last_hidden_state
        image_mask = torch.ones(image.shape[:-1], dtype=torch.long, device=image.device)
        text = self.text(
            input_ids=input_ids,
            attention_mask=attention_mask,
            encoder_hidden_states=image,
            encoder_attention_mask=image_mask,
            is_decoder=False,
        )  # bidirectional, as an encoder
        return (self.mlp(text.last_hidden_state[:, 0].float()) - SCORE_MEAN) / SCORE_STD

    def pixel_values(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] -> the model's input, preprocessed as ImageReward does."""
        side = self.size.image_size
        return resize_crop_normalise(images.float(), side, (side, side), PIXEL_MEAN, PIXEL_STD)


def map_checkpoint(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The released checkpoint's names (``blip.visual_encoder.*``, ``blip.text_encoder.*``,
    ``mlp.layers.*``) -> ``ImageReward``'s, dropping the weights the score does not use."""
    mapped = {}
    for key, value in state_dict.items():
        if key.startswith(_UNUSED):
            continue
        if key.startswith("blip.visual_encoder."):
            name = key.removeprefix("blip.visual_encoder.")
            for pattern, replacement in _VISION_RENAMES:
                name = re.sub(pattern, replacement, name)
            mapped["vision." + name] = value
        elif key.startswith("blip.text_encoder."):
            mapped["text." + key.removeprefix("blip.text_encoder.")] = value
        elif key.startswith("mlp."):
            mapped[key] = value
        else:
            raise KeyError(f"Unexpected key '{key}' in an ImageReward checkpoint.")
    return mapped


def load_checkpoint(model: ImageReward, state_dict: dict[str, torch.Tensor]) -> ImageReward:
    """Load released-format weights into ``model``, refusing any missing or left-over tensor."""
    result = model.load_state_dict(map_checkpoint(state_dict), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"The ImageReward checkpoint does not fit the model: missing {result.missing_keys[:3]}, "
            f"unexpected {result.unexpected_keys[:3]}."
        )
    return model


def prepare_tokenizer(tokenizer: BertTokenizer) -> BertTokenizer:
    """BLIP's tokenizer setup: [DEC] as the bos token and [ENC] added (30,522 + 2 tokens for BERT's)."""
    tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    tokenizer.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
    return tokenizer


class Scorer:
    """``scorer(images in [0, 1] (B, 3, H, W), prompts) -> scores (B,)``, in batches, under inference mode."""

    def __init__(self, model: ImageReward, tokenizer: BertTokenizer, batch_size: int = 32):
        self.model, self.tokenizer, self.batch_size = model.eval().requires_grad_(False), tokenizer, batch_size

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor, prompts: Sequence[str]) -> torch.Tensor:
        if len(images) != len(prompts):
            raise ValueError(f"Got {len(images)} images but {len(prompts)} prompts.")
        param = next(self.model.parameters())
        scores = []
        for start in range(0, len(images), self.batch_size):
            tokens = self.tokenizer(
                list(prompts[start : start + self.batch_size]),
                padding="max_length",
                truncation=True,
                max_length=MAX_TOKENS,
                return_tensors="pt",
            ).to(param.device)
            pixels = self.model.pixel_values(images[start : start + self.batch_size].to(param.device))
            scores.append(self.model(pixels.to(param.dtype), tokens.input_ids, tokens.attention_mask).float())
        return torch.cat(scores)
