"""Seeded random models of the paper's classes: small ones (profile ``tiny``) and the released
architectures (``paper-shaped``, from ``configs``), and the pieces the miniature builds its own from.

Same seed, bit-identical weights; every builder draws from a forked RNG, so building a model never
moves the caller's random state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import (
    BlipConfig,
    BlipForConditionalGeneration,
    BlipImageProcessor,
    BlipProcessor,
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    CLIPProcessor,
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTokenizer,
)

from clipcreate_lib.models import configs
from clipcreate_lib.models.tokenizers import build_tiny_tokenizer, tiny_bert_tokenizer, token_ids

# Stable Diffusion 2 base's scheduler settings. steps_offset=1 keeps the last DDIM step's variance
# above zero at eta=1, so every DDPO log-prob is finite (checked against trl 0.23.1: docs/ddpo.md).
SD2_SCHEDULER = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    clip_sample=False,
    set_alpha_to_one=False,
    steps_offset=1,
    prediction_type="epsilon",
)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global RNG for weight initialisation without disturbing the caller's RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


# The tiny CLIP's towers (its text tower is also the tiny Stable Diffusion's text encoder).
TINY_TEXT = dict(
    hidden_size=32,
    intermediate_size=64,
    num_attention_heads=4,
    num_hidden_layers=2,
    max_position_embeddings=77,
    projection_dim=32,
)
TINY_VISION = dict(
    image_size=32,
    patch_size=4,
    hidden_size=32,
    intermediate_size=64,
    num_attention_heads=4,
    num_hidden_layers=2,
    projection_dim=32,
)


def text_tower(tokenizer: CLIPTokenizer, **tower) -> dict:
    """A CLIP text tower's config for ``tokenizer``: its vocabulary size and special token ids added."""
    return dict(vocab_size=len(tokenizer), **tower, **token_ids(tokenizer))


def clip_model(
    text: dict,
    vision: dict,
    projection_dim: int,
    seed: int,
    **config,
) -> tuple[CLIPModel, CLIPProcessor]:
    """A seeded, untrained ``CLIPModel`` of the given towers with the tiny tokenizer, and its processor
    (shortest side and centre crop at the vision tower's image size, OpenAI's mean and std)."""
    tokenizer = build_tiny_tokenizer()
    clip_config = CLIPConfig(
        text_config=text_tower(tokenizer, **text), vision_config=vision, projection_dim=projection_dim, **config
    )
    with seeded(seed):
        model = CLIPModel(clip_config)
    size = vision["image_size"]
    image_processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    return model, CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)


def assemble_pipeline(unet, vae, text_encoder, tokenizer, prediction_type: str = "epsilon") -> StableDiffusionPipeline:
    """A ``StableDiffusionPipeline`` of the given parts with a ``DDIMScheduler`` of SD 2 base's settings."""
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=DDIMScheduler(**{**SD2_SCHEDULER, "prediction_type": prediction_type}),
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )


def tiny_stable_diffusion(seed: int) -> StableDiffusionPipeline:
    """Stable Diffusion at 32 px: a 2-level UNet on 16x16x4 latents, a 2-level VAE, a 2-layer text encoder."""
    tokenizer = build_tiny_tokenizer()
    with seeded(seed):
        unet = UNet2DConditionModel(
            sample_size=16,
            in_channels=4,
            out_channels=4,
            layers_per_block=1,
            block_out_channels=(32, 64),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=(2, 4),
            use_linear_projection=True,
            norm_num_groups=32,
        )
    with seeded(seed + 1):
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            latent_channels=4,
            block_out_channels=(32, 64),
            down_block_types=("DownEncoderBlock2D",) * 2,
            up_block_types=("UpDecoderBlock2D",) * 2,
            layers_per_block=1,
            norm_num_groups=32,
            sample_size=32,
        )
    with seeded(seed + 2):
        text_encoder = CLIPTextModel(CLIPTextConfig(**text_tower(tokenizer, **TINY_TEXT)))
    return assemble_pipeline(unet, vae, text_encoder, tokenizer)


def tiny_clip(seed: int) -> tuple[CLIPModel, CLIPProcessor]:
    """CLIP with a 2-layer ViT on 32 px images (patch 4) and a 2-layer text tower, 32-d embeddings."""
    return clip_model(TINY_TEXT, TINY_VISION, projection_dim=32, seed=seed + 3)


# --- paper-shaped builders: the released architectures, seeded random weights ------------------
def paper_shaped_configs(tokenizer: CLIPTokenizer | None = None) -> dict:
    """The configs of Stable Diffusion 2 base's parts and of CLIP ViT-L/14 (``configs``), with
    the special token ids of ``tokenizer`` (default: the tiny one, whose ids all lie in their vocab)."""
    ids = token_ids(tokenizer or build_tiny_tokenizer())
    clip = configs.CLIP_VIT_L14
    return {
        "unet": dict(configs.SD2_UNET),
        "vae": dict(configs.SD2_VAE),
        "text_encoder": CLIPTextConfig(**configs.SD2_TEXT_ENCODER, **ids),
        "clip": CLIPConfig(**{**clip, "text_config": {**clip["text_config"], **ids}}),
    }


def paper_shaped_stable_diffusion(seed: int) -> StableDiffusionPipeline:
    """Stable Diffusion 2 base's UNet (865.9M), VAE (83.7M) and text encoder (340.4M), random weights.
    The tokenizer is the tiny one: the cost of a prompt is its 77 positions, not its words."""
    tokenizer = build_tiny_tokenizer()
    parts = paper_shaped_configs(tokenizer)
    with seeded(seed):
        unet = UNet2DConditionModel(**parts["unet"])
    with seeded(seed + 1):
        vae = AutoencoderKL(**parts["vae"])
    with seeded(seed + 2):
        text_encoder = CLIPTextModel(parts["text_encoder"])
    return assemble_pipeline(unet, vae, text_encoder, tokenizer)


def paper_shaped_clip(seed: int) -> tuple[CLIPModel, CLIPProcessor]:
    """CLIP ViT-L/14 (427.6M) with random weights, its image processor and the tiny tokenizer."""
    tokenizer = build_tiny_tokenizer()
    with seeded(seed + 3):
        model = CLIPModel(paper_shaped_configs(tokenizer)["clip"])
    image_processor = CLIPImageProcessor(**configs.CLIP_VIT_L14_PROCESSOR)
    return model, CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)


def tiny_blip(seed: int = 0) -> tuple[BlipForConditionalGeneration, BlipProcessor]:
    """BLIP captioner with a 1-layer ViT (32 px, patch 8) and a 1-layer text decoder, random weights."""
    tokenizer = tiny_bert_tokenizer()
    config = BlipConfig(
        vision_config=dict(
            image_size=32,
            patch_size=8,
            hidden_size=32,
            intermediate_size=64,
            num_attention_heads=4,
            num_hidden_layers=1,
        ),
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_attention_heads=4,
            num_hidden_layers=1,
            encoder_hidden_size=32,
            max_position_embeddings=64,
            bos_token_id=tokenizer.bos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            sep_token_id=tokenizer.sep_token_id,
        ),
        projection_dim=32,
    )
    with seeded(seed + 4):
        model = BlipForConditionalGeneration(config)
    image_processor = BlipImageProcessor(size={"height": 32, "width": 32})
    return model, BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)
