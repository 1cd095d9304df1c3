"""The miniature's two pretrainings: a CLIP (contrastive, identical texts counted as matches) and a
pixel-space Stable Diffusion (v-prediction on CLIP's text tower), both deterministic given the seed.

``miniature`` says why the miniature exists and builds, checks and caches what these train.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderTiny, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from diffusers.training_utils import EMAModel
from transformers import CLIPModel, CLIPProcessor, CLIPTextModel

from clipcreate_lib.config import DataConfig, MiniatureConfig
from clipcreate_lib.data.embedded import embedded_captions, iter_embedded
from clipcreate_lib.data.image_io import images_as_tensor
from clipcreate_lib.data.wikiart import WIKIART_STYLES, style_text
from clipcreate_lib.models import builders, clip_space
from clipcreate_lib.models.text_encoding import TextCache, encode_prompts
from clipcreate_lib.progress import bar
from clipcreate_lib.schedules import warmup_schedule

STYLE_SUFFIX = ", in the style of "
PIXEL_LATENT_SCALE = 0.1  # the pixel autoencoder's latent per unit of pixel value (see pixel_autoencoder)
MAX_TEXT_TOKENS = 77  # the tiny tokenizer's model_max_length: the CLIP text tower's positions


@dataclass
class Examples:
    """Embedded images with their captions and style labels (indices into ``WIKIART_STYLES``)."""

    images: torch.Tensor  # (N, 3, H, W) in [0, 1]
    captions: list[str]
    labels: torch.Tensor  # (N,) int64

    def select(self, rows: np.ndarray) -> Examples:
        return Examples(self.images[rows], [self.captions[i] for i in rows], self.labels[rows])


# --- data ----------------------------------------------------------------------------------------
def embedded_split(cfg: MiniatureConfig) -> tuple[Examples, Examples]:
    """(train, held-out): the embedded dataset at ``cfg.image_size``; the last ``cfg.held_out_per_style``
    images of every style are held out for the quality checks."""
    data_cfg = DataConfig(
        source="embedded",
        image_size=cfg.image_size,
        seed=cfg.seed,
        images_per_style=cfg.train_per_style + cfg.held_out_per_style,
    )
    records = list(iter_embedded(data_cfg))
    everything = Examples(
        images_as_tensor([r.image for r in records]),
        embedded_captions(data_cfg),
        torch.tensor([WIKIART_STYLES.index(r.style) for r in records]),
    )
    held_out = np.arange(len(records)) % data_cfg.images_per_style >= cfg.train_per_style
    return everything.select(np.flatnonzero(~held_out)), everything.select(np.flatnonzero(held_out))


def styled_caption(caption: str, label: int) -> str:
    """A caption that names its image's style, which the embedded captions never do."""
    return caption + STYLE_SUFFIX + style_text(WIKIART_STYLES[label])


# --- CLIP ----------------------------------------------------------------------------------------
def multi_positive_clip_loss(logits_per_image: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
    """Symmetric InfoNCE where every pair with identical texts is a match: each row's target spreads
    evenly over the columns whose text equals its own (CLIP's one-hot targets when all texts differ)."""
    codes = {text: i for i, text in enumerate(dict.fromkeys(texts))}
    ids = torch.tensor([codes[t] for t in texts], device=logits_per_image.device)
    same = (ids[:, None] == ids[None, :]).float()
    targets = same / same.sum(dim=1, keepdim=True)
    return 0.5 * (F.cross_entropy(logits_per_image, targets) + F.cross_entropy(logits_per_image.T, targets))


def new_clip(cfg: MiniatureConfig) -> tuple[CLIPModel, CLIPProcessor]:
    """A seeded, untrained CLIP of the configured size with the tiny tokenizer (a ViT on ``image_size`` px)."""
    tower = dict(
        hidden_size=cfg.clip_width,
        intermediate_size=4 * cfg.clip_width,
        num_attention_heads=cfg.clip_heads,
        projection_dim=cfg.clip_projection_dim,
    )
    text = dict(num_hidden_layers=cfg.clip_text_layers, max_position_embeddings=MAX_TEXT_TOKENS, **tower)
    vision = dict(
        image_size=cfg.image_size, patch_size=cfg.clip_patch_size, num_hidden_layers=cfg.clip_vision_layers, **tower
    )
    return builders.clip_model(
        text, vision, cfg.clip_projection_dim, cfg.seed, logit_scale_init_value=float(np.log(cfg.clip_logit_scale))
    )


def clip_texts(examples: Examples, rng: np.random.Generator, style_text_rate: float) -> list[str]:
    """One training text per image: the bare style text with probability ``style_text_rate``, else the
    caption naming the style."""
    bare = rng.random(len(examples.captions)) < style_text_rate
    return [
        style_text(WIKIART_STYLES[label]) if b else styled_caption(caption, label)
        for caption, label, b in zip(examples.captions, examples.labels.tolist(), bare)
    ]


def train_clip(
    cfg: MiniatureConfig,
    train: Examples,
    progress: bool = True,
) -> tuple[CLIPModel, CLIPProcessor, list[float]]:
    """CLIP trained for ``cfg.clip_steps`` batches of the multi-positive contrastive loss (eval mode on
    return), its processor, and the loss of every step."""
    model, processor = new_clip(cfg)
    losses = []
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.clip_lr, weight_decay=0.1)
    schedule = warmup_schedule(optimiser, _warmup_steps(cfg.clip_steps), cfg.clip_steps)
    rng = np.random.default_rng([cfg.seed, 1])
    model.train()
    for _ in bar(range(cfg.clip_steps), desc="mini CLIP", unit="step", disable=not progress):
        batch = train.select(_batch_rows(rng, len(train.captions), cfg.clip_batch_size, "clip_batch_size"))
        loss = clip_batch_loss(
            model, processor, _augment(batch.images, rng), clip_texts(batch, rng, cfg.clip_style_text_rate)
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(loss.item())
    return model.eval().requires_grad_(False), processor, losses


def clip_batch_loss(model: CLIPModel, processor: CLIPProcessor, images: torch.Tensor, texts: list[str]) -> torch.Tensor:
    """The multi-positive contrastive loss of a batch of images in [0, 1] and their texts."""
    tokens = processor.tokenizer(texts, padding=True, return_tensors="pt")
    pixels = clip_space.clip_pixel_values(images, processor)
    return multi_positive_clip_loss(model(**tokens, pixel_values=pixels).logits_per_image, texts)


def _batch_rows(rng: np.random.Generator, n: int, batch_size: int, key: str) -> np.ndarray:
    """A batch of distinct training rows, drawn uniformly."""
    if batch_size > n:
        raise ValueError(
            f"miniature.{key} is {batch_size} but there are only {n} training images; "
            f"lower it or raise miniature.train_per_style."
        )
    return rng.choice(n, batch_size, replace=False)


def _augment(images: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Random horizontal flips: the styles' textures and palettes do not depend on left and right."""
    flip = torch.from_numpy(rng.random(len(images)) < 0.5)
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def _warmup_steps(steps: int) -> int:
    """Both pretrainings warm their learning rate up over the first 5% of their steps."""
    return max(1, steps // 20)


# --- Stable Diffusion ----------------------------------------------------------------------------
def pixel_autoencoder() -> AutoencoderTiny:
    """A one-level ``AutoencoderTiny`` whose latents are the pixels: encode gives s (p - 1/2) per channel for
    p in [0, 1] and decode divides by s again. DecoderTiny first soft-clamps its input to 3 tanh(z / 3), which
    a small s keeps linear (error s^2 / 216 at most on that range); ``scaling_factor`` 2 / s puts the
    diffusion model's latents at the pixels in [-1, 1], the usual range of pixel-space diffusion.
    The pipeline and ``ddpo`` only call ``decode`` and read ``scaling_factor`` and ``block_out_channels``, so
    it stands in for an ``AutoencoderKL``; ``loaders.load_stable_diffusion`` leaves out diffusers' notices
    about that."""
    vae = AutoencoderTiny(
        encoder_block_out_channels=(3,),
        decoder_block_out_channels=(3,),
        num_encoder_blocks=(0,),
        num_decoder_blocks=(0,),
        latent_channels=3,
        scaling_factor=2.0 / PIXEL_LATENT_SCALE,
    )
    encode_in, encode_out = vae.encoder.layers  # conv to p - 1/2, conv to the latent
    decode_in, _, decode_out = vae.decoder.layers  # conv to p, ReLU, conv to the output
    layers = (
        (encode_in, 1.0, -0.5),
        (encode_out, PIXEL_LATENT_SCALE, 0.0),
        (decode_in, 1 / PIXEL_LATENT_SCALE, 0.5),
        (decode_out, 1.0, 0.0),
    )
    with torch.no_grad():
        for conv, gain, bias in layers:
            conv.weight.zero_()
            conv.weight[:, :, 1, 1] = gain * torch.eye(3)
            conv.bias.fill_(bias)
    return vae.eval().requires_grad_(False)


def new_unet(cfg: MiniatureConfig, cross_attention_dim: int) -> UNet2DConditionModel:
    """A seeded UNet on pixels: plain ResNet blocks at full resolution, cross-attention below it."""
    levels = len(cfg.unet_channels)
    with builders.seeded(cfg.seed + 1):
        return UNet2DConditionModel(
            sample_size=cfg.image_size,
            in_channels=3,
            out_channels=3,
            layers_per_block=cfg.unet_layers_per_block,
            block_out_channels=tuple(cfg.unet_channels),
            cross_attention_dim=cross_attention_dim,
            down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (levels - 1),
            up_block_types=("CrossAttnUpBlock2D",) * (levels - 1) + ("UpBlock2D",),
            # diffusers reads attention_head_dim as the number of heads (a naming bug it keeps for compatibility)
            attention_head_dim=tuple(c // cfg.unet_attention_head_dim for c in cfg.unet_channels),
            norm_num_groups=cfg.unet_norm_groups,
            use_linear_projection=True,
        )


def text_encoder_of(clip: CLIPModel) -> CLIPTextModel:
    """A ``CLIPTextModel`` holding the trained CLIP's text tower (the projection is not part of it)."""
    encoder = CLIPTextModel(clip.config.text_config)
    encoder.load_state_dict(clip.text_model.state_dict())
    return encoder.eval().requires_grad_(False)


def new_pipeline(cfg: MiniatureConfig, clip: CLIPModel, processor: CLIPProcessor) -> StableDiffusionPipeline:
    """An untrained pipeline: seeded UNet, pixel autoencoder, CLIP's text tower, DDIM with v-prediction."""
    text_encoder = text_encoder_of(clip)
    pipe = builders.assemble_pipeline(
        new_unet(cfg, text_encoder.config.hidden_size),
        pixel_autoencoder(),
        text_encoder,
        processor.tokenizer,
        prediction_type="v_prediction",
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def diffusion_texts(examples: Examples, rng: np.random.Generator, cfg: MiniatureConfig) -> list[str]:
    """One conditioning text per image: empty (``caption_dropout``: the unconditional branch of guidance),
    the bare caption (``style_free_rate``: style-free prompts still draw styles) or the caption naming the style."""
    draw = rng.random(len(examples.captions))
    return [
        ""
        if d < cfg.caption_dropout
        else caption
        if d < cfg.caption_dropout + cfg.style_free_rate
        else styled_caption(caption, label)
        for caption, label, d in zip(examples.captions, examples.labels.tolist(), draw)
    ]


def train_diffusion(
    cfg: MiniatureConfig, train: Examples, clip: CLIPModel, processor: CLIPProcessor, progress: bool = True
) -> tuple[StableDiffusionPipeline, list[float]]:
    """The pipeline after ``cfg.diffusion_steps`` batches of the v-prediction loss, with the UNet's EMA
    weights, and the loss of every step."""
    pipe = new_pipeline(cfg, clip, processor)
    losses = []
    unet, scheduler = pipe.unet, pipe.scheduler
    latents = pipe.vae.encode(train.images * 2 - 1).latents * pipe.vae.config.scaling_factor
    embed = TextCache(lambda texts: encode_prompts(pipe, texts))
    optimiser = torch.optim.AdamW(unet.parameters(), lr=cfg.diffusion_lr, weight_decay=0.0)
    schedule = warmup_schedule(optimiser, _warmup_steps(cfg.diffusion_steps), cfg.diffusion_steps)
    ema = EMAModel(unet.parameters(), decay=cfg.ema_decay)
    rng = np.random.default_rng([cfg.seed, 2])
    generator = torch.Generator().manual_seed(cfg.seed + 2)
    unet.train()
    for _ in bar(range(cfg.diffusion_steps), desc="mini Stable Diffusion", unit="step", disable=not progress):
        rows = _batch_rows(rng, len(train.captions), cfg.diffusion_batch_size, "diffusion_batch_size")
        texts = diffusion_texts(train.select(rows), rng, cfg)
        loss = v_prediction_loss(unet, scheduler, _augment(latents[rows], rng), embed(texts), generator)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        ema.step(unet.parameters())
        losses.append(loss.item())
    ema.copy_to(unet.parameters())
    unet.eval().requires_grad_(False)
    return pipe, losses


def v_prediction_loss(
    unet: UNet2DConditionModel,
    scheduler: DDIMScheduler,
    x0: torch.Tensor,
    text_states: torch.Tensor,
    generator: torch.Generator,
) -> torch.Tensor:
    """MSE between the UNet's output and the velocity sqrt(a) noise - sqrt(1 - a) x0, at uniform timesteps.
    v-prediction stays well posed at the noisiest steps, where epsilon-prediction's x0 estimate divides by a
    near-zero sqrt(a) (measured on 10 styles: epsilon still drew noise after 5 minutes, v reached 0.84)."""
    noise = torch.randn(x0.shape, generator=generator)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (len(x0),), generator=generator)
    prediction = unet(scheduler.add_noise(x0, noise, t), t, encoder_hidden_states=text_states).sample
    return F.mse_loss(prediction, scheduler.get_velocity(x0, noise, t))
