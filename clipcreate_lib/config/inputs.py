"""Settings of what the pipeline starts from: the models (``models``), the data (``data``, notebook
01) and, in the mini profile, the miniature models notebook 01 pretrains (``miniature``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from clipcreate_lib.config.fields import above_zero, decay, fraction, non_negative, nonempty, positive


@dataclass
class ModelsConfig:
    # "tiny": seeded random models of the real classes, built in code (no download);
    # "mini": the CLIP and Stable Diffusion that notebook 01 pretrains on the embedded styles
    #         (data/miniature/, loaded with from_pretrained like hub models; the other models as tiny);
    # "paper-shaped": the released architectures (model_configs.py), seeded random weights (no download);
    # "pretrained": from_pretrained on the ids below (hub ids or local folders).
    source: Literal["tiny", "mini", "paper-shaped", "pretrained"] = "pretrained"
    # Stable Diffusion checkpoint the DDPO runs fine-tune (hub id or local folder).
    stable_diffusion: str = "stabilityai/stable-diffusion-2-base"
    # CLIP used for the classifiers, the utility reward and the aesthetic scorer.
    clip: str = "openai/clip-vit-large-patch14"
    # The held-out judge of notebook 05: a CLIP of another backbone that no training reward used, to tell
    # a real rise in style ambiguity from one that fooled the reward's CLIP (reward hacking).
    judge_clip: str = "openai/clip-vit-base-patch32"
    # BLIP captioner used to choose the mediums styles.
    blip: str = "Salesforce/blip-image-captioning-base"
    # AVA aesthetic predictor (its aesthetic-model.pth: the MLP on CLIP ViT-L/14 features), hub id or folder.
    aesthetic: str = "trl-lib/ddpo-aesthetic-predictor"
    # ImageReward-v1.0 (its ImageReward.pt), hub id, folder or file.
    image_reward: str = "THUDM/ImageReward"
    # ImageReward's tokenizer (BERT's, plus the two tokens BLIP adds).
    image_reward_tokenizer: str = "bert-base-uncased"
    # Seed of the tiny models' random weights (same seed -> bit-identical models).
    seed: int = non_negative(0)
    # "auto" picks CUDA when present, else CPU.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # dtype of frozen inference models on a GPU; CPU always computes in float32.
    dtype: Literal["float32", "bfloat16", "float16"] = "bfloat16"
    # Deterministic CUDA kernels (torch.use_deterministic_algorithms, cuBLAS's fixed workspace, no
    # cuDNN autotuning): slower, and what the same bits on every rerun and resume need on a GPU; an op
    # with no deterministic kernel then stops with an error naming it. The CPU is deterministic as is.
    deterministic: bool = False


@dataclass
class DataConfig:
    # "wikiart": the `datasets` id below; "embedded": the deterministic in-code dataset.
    source: Literal["wikiart", "embedded"] = "wikiart"
    # `datasets` id (or local folder) of WikiArt with an `image` and a `style` ClassLabel column.
    dataset_id: str = "huggan/wikiart"
    # Split to read.
    split: str = "train"
    # Stream the source instead of downloading it whole first.
    streaming: bool = True
    # At most this many images per style (the reference code's centroids used 500); null = all.
    max_per_style: int | None = positive(None)
    # Images are stored as center-cropped squares of this size (the CAN's largest is 512 px).
    image_size: int = positive(512)
    # Embedded dataset only: images generated per style.
    images_per_style: int = positive(32)
    # BLIP captioning batch size.
    caption_batch_size: int = positive(32)
    # BLIP caption length limit, in new tokens.
    caption_max_tokens: int = positive(30)
    # Words whose presence in a caption counts towards a style's "medium" fraction (the prompts).
    medium_words: list[str] = nonempty(lambda: ["painting", "drawing", "art"])
    # How many styles the mediums dataset keeps.
    n_mediums: int = positive(10)
    # "word": whole-word match (ours); "substring": the reference code's ("art" matches "artist").
    match: Literal["word", "substring"] = "word"
    # Seed of the embedded dataset and of any sampling.
    seed: int = non_negative(0)


@dataclass
class MiniatureConfig:
    # Side of the embedded images both models are trained on and the pipeline draws (px).
    image_size: int = positive(32)
    # Embedded images per style used for training.
    train_per_style: int = positive(40)
    # Embedded images per style held out for the quality checks (zero-shot accuracy, k-means ARI).
    held_out_per_style: int = positive(8)
    # CLIP: width of both towers (their heads, MLPs 4x wider).
    clip_width: int = positive(128)
    # CLIP: attention heads per layer, in both towers.
    clip_heads: int = positive(4)
    # CLIP: width of the joint embedding space.
    clip_projection_dim: int = positive(64)
    # CLIP: transformer layers of the vision tower.
    clip_vision_layers: int = positive(4)
    # CLIP: transformer layers of the text tower (also the diffusion model's text encoder).
    clip_text_layers: int = positive(2)
    # CLIP: ViT patch side (px).
    clip_patch_size: int = positive(4)
    # CLIP: optimiser steps (a step count, not a time budget, so a run is the same on every machine).
    clip_steps: int = positive(200)
    # CLIP: (image, text) pairs per contrastive batch.
    clip_batch_size: int = positive(128)
    # CLIP: AdamW peak learning rate (linear warm-up, cosine decay).
    clip_lr: float = above_zero(1e-3)
    # CLIP: fraction of training texts that are the bare style text (the rest: caption + its style).
    clip_style_text_rate: float = fraction(0.5)
    # CLIP: initial value of the learned logit scale (the temperature's inverse). OpenAI's CLIP ends training at
    # its clamp of 100; started at transformers' default (about 14) the miniature's image embeddings collapse
    # onto the 27 style texts (cosine 0.98), and the text classifier's ambiguity has no room to move.
    clip_logit_scale: float = positive(100.0)
    # UNet: channels per resolution level (the first, full-resolution level has no attention).
    unet_channels: list[int] = positive(factory=lambda: [32, 64, 64], nonempty=True)
    # UNet: ResNet blocks per level and direction.
    unet_layers_per_block: int = positive(1)
    # UNet: channels per attention head.
    unet_attention_head_dim: int = positive(16)
    # UNet: GroupNorm groups (must divide every entry of unet_channels).
    unet_norm_groups: int = positive(16)
    # Diffusion: optimiser steps of the v-prediction loss.
    diffusion_steps: int = positive(550)
    # Diffusion: images per batch.
    diffusion_batch_size: int = positive(32)
    # Diffusion: AdamW peak learning rate (linear warm-up, cosine decay).
    diffusion_lr: float = above_zero(1e-3)
    # Diffusion: decay of the exponential moving average of the UNet weights that is saved.
    ema_decay: float = decay(0.999)
    # Diffusion: fraction of texts replaced by the empty prompt (trains classifier-free guidance).
    caption_dropout: float = fraction(0.1)
    # Diffusion: fraction of texts that are the caption without its style (style-free prompts still work).
    style_free_rate: float = fraction(0.2)
    # Quality checks: DDIM steps and classifier-free guidance scale of the sampled images.
    check_steps: int = positive(20)
    check_guidance_scale: float = non_negative(3.0)
    # Seed of the weights, the batches, the noise and the embedded data.
    seed: int = non_negative(0)
