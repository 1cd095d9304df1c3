"""Typed, validated settings: one dataclass per stage, one YAML file per profile.

``params/<profile>.yaml`` holds a ``profile`` name and one section per stage. ``run_all.sh`` feeds
the file to papermill, which injects each section into the notebooks as a dict; ``load`` merges
whatever a notebook was given over the file and validates the result, so a typo in a key or a
string where a number belongs fails at once with a sentence naming the key, never deep in a run.
The dataclass defaults are the paper's settings; ``tiny.yaml`` shrinks models and data only.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from clipcreate_lib import paths

PROFILES = ("tiny", "mini", "paper", "paper-shaped")


class ConfigError(ValueError):
    """A profile file or a notebook parameter that does not fit the schema below."""


def bounded(minimum: float, maximum: float | None = None, default: Any = None, factory: Any = None) -> Any:
    """A field whose numbers (or each number of its list) must lie in [minimum, maximum]."""
    bounds = {"min": minimum, "max": maximum}
    if factory is not None:
        return field(default_factory=factory, metadata=bounds)
    return field(default=default, metadata=bounds)


def positive(default: Any = None, factory: Any = None) -> Any:
    """A count: at least 1."""
    return bounded(1, None, default, factory)


def nonempty(factory: Any) -> Any:
    """A list that must hold at least one item (an empty word list, say, would match every caption)."""
    return field(default_factory=factory, metadata={"nonempty": True})


def non_negative(default: Any = None, factory: Any = None) -> Any:
    """A step count, rate, threshold or index that a negative value would silently invert or wrap."""
    return bounded(0, None, default, factory)


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
    # BLIP captioner used to choose the mediums styles.
    blip: str = "Salesforce/blip-image-captioning-base"
    # AVA aesthetic predictor (its aesthetic-model.pth: the MLP on CLIP ViT-L/14 features), hub id or folder.
    aesthetic: str = "trl-lib/ddpo-aesthetic-predictor"
    # ImageReward-v1.0 (its ImageReward.pt), hub id, folder or file.
    image_reward: str = "THUDM/ImageReward"
    # ImageReward's tokenizer (BERT's, plus the two tokens BLIP adds).
    image_reward_tokenizer: str = "bert-base-uncased"
    # Seed of the tiny models' random weights (same seed -> bit-identical models).
    seed: int = 0
    # "auto" picks CUDA when present, else CPU.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # dtype of frozen inference models on a GPU; CPU always computes in float32.
    dtype: Literal["float32", "bfloat16", "float16"] = "bfloat16"


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
    seed: int = 0


@dataclass
class CentroidsConfig:
    # k of the k-means classifier for the full dataset (27 = its number of styles).
    k_full: int = positive(27)
    # k for the mediums dataset (10 = its number of styles).
    k_mediums: int = positive(10)
    # k values for the inertia (elbow) plot.
    k_range: list[int] = positive(factory=lambda: [2, 4, 6, 8, 10, 15, 20, 27, 35, 50])
    # Images per CLIP forward pass.
    batch_size: int = positive(64)
    # k-means restarts (scikit-learn n_init).
    n_init: int = positive(10)
    # k-means random_state.
    seed: int = 0


ModelName = Literal["disc-full", "clip-full", "kmeans-full", "disc-med", "clip-med", "kmeans-med"]
MODEL_NAMES = typing.get_args(ModelName)


@dataclass
class RewardConfig:
    # lambda_nov: weight of style ambiguity, -CE(softmax(style logits), uniform).
    novelty_weight: float = 1.0
    # lambda_util: weight of utility, the cosine between CLIP embeddings of prompt and image.
    utility_weight: float = 0.25
    # lambda_ir: weight of ImageReward in the training reward. 0 = the paper's formula; the
    # reference code always added it (PAPER.md section 6), set it > 0 to reproduce that on purpose.
    image_reward_weight: float = 0.0
    # Softmax temperature of the k-means classifier's inverse-distance logits (1 = the reference).
    kmeans_temperature: float = 1.0


@dataclass
class DdpoConfig:
    # Which of the six models notebook 04 trains (names from MODEL_NAMES: classifier-dataset).
    models: list[ModelName] = field(default_factory=lambda: list(MODEL_NAMES))
    # Training epochs; each samples sample_batches x sample_batch_size images, then trains on them.
    epochs: int = positive(100)
    # Training prompts, drawn uniformly per image (the paper's three mediums).
    prompts: list[str] = nonempty(lambda: ["painting", "drawing", "art"])
    # DDIM steps per sampled image (every step is one PPO timestep).
    sample_steps: int = positive(10)
    # DDIM eta in [0, 1]; 1 makes every step stochastic, which the policy gradient needs (above 1
    # the noise would exceed the step's variance and the DDIM update takes the root of a negative).
    eta: float = bounded(0, 1, 1.0)
    # Classifier-free guidance scale, in sampling and in the training forward passes alike.
    guidance_scale: float = 5.0
    # Images per sampling batch.
    sample_batch_size: int = positive(4)
    # Sampling batches per epoch (4 x 8 = 32 images per epoch).
    sample_batches: int = positive(8)
    # Images per optimiser step; every DDIM timestep of these images is accumulated into it.
    train_batch_size: int = positive(4)
    # Passes over each epoch's samples.
    inner_epochs: int = positive(1)
    # Timesteps scored in one UNet forward and backward during training (same gradient; more is
    # faster but holds more activations: 1 as trl and the reference do, sample_steps = all at once).
    timesteps_per_pass: int = positive(1)
    # AdamW learning rate.
    learning_rate: float = non_negative(3e-4)
    # Optimiser steps over which the learning rate rises linearly to learning_rate (0: from the
    # first step, as the reference code). Adam's first steps move every weight by about the learning
    # rate whatever its gradient; in a full fine-tune that jump cost some seeds 2-6 reward points.
    lr_warmup_steps: int = non_negative(0)
    # AdamW beta1.
    adam_beta1: float = 0.9
    # AdamW beta2.
    adam_beta2: float = 0.999
    # AdamW weight decay.
    weight_decay: float = non_negative(1e-4)
    # AdamW epsilon.
    adam_epsilon: float = 1e-8
    # Gradient-norm clipping threshold.
    max_grad_norm: float = non_negative(1.0)
    # PPO clip range of the probability ratio (small because log-probs are per-dimension means).
    clip_range: float = non_negative(1e-4)
    # Advantages are clipped to [-adv_clip_max, adv_clip_max].
    adv_clip_max: float = non_negative(5.0)
    # The log-ratio's value is clamped to [-limit, limit] before exp, so a near-deterministic DDIM
    # step cannot overflow the ratio; its gradient passes unclamped (ddpo.ppo_loss says why).
    log_ratio_limit: float = non_negative(20.0)
    # Normalise rewards per prompt (else over the whole batch).
    per_prompt_stats: bool = True
    # Per-prompt reward buffer length.
    stat_buffer_size: int = positive(16)
    # Fewer rewards than this for a prompt -> use the batch's mean and std instead.
    stat_min_count: int = positive(16)
    # Train LoRA adapters on the UNet (false: fine-tune the whole UNet).
    lora: bool = True
    # LoRA rank.
    lora_rank: int = positive(4)
    # LoRA alpha (scale = alpha / rank).
    lora_alpha: int = positive(4)
    # UNet attention projections that get adapters.
    lora_targets: list[str] = nonempty(lambda: ["to_q", "to_k", "to_v", "to_out.0"])
    # bf16 autocast of the UNet on CUDA (LoRA weights stay float32); CPU always runs float32.
    autocast: bool = True
    # On CUDA, float32 matmuls and convolutions in TF32 (process-wide; no effect on CPU).
    tf32: bool = True
    # UNet weights and activations in channels_last memory format (same math, another conv layout).
    channels_last: bool = False
    # torch.compile the UNet's forward (the first epoch pays the compilation).
    compile: bool = False
    # Models notebook 04 trains at once, each in its own process with one torch thread (on a small
    # CPU two processes beat two threads in one); 1 = one after another in the notebook's process.
    processes: int = positive(1)
    # Seed of the adapters' initialisation, the prompts, the sampling noise and the shuffling.
    seed: int = 0


@dataclass
class CanConfig:
    # Image size the CAN is built for (the extended paper's four architectures); data is resized to it.
    image_size: Literal[64, 128, 256, 512] = 512
    # Training epochs (full passes over the dataset, unless max_steps_per_epoch cuts them short).
    epochs: int = positive(50)
    # Real images (and as many generated ones) per step; the reference code used 4.
    batch_size: int = positive(4)
    # At most this many steps per epoch; null = the whole dataset (paper). Tiny caps it for time.
    max_steps_per_epoch: int | None = positive(None)
    # Adam learning rate and betas, for both networks.
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    # Weight of the generator's style-ambiguity term, BCE(softmax(style), 1/N).
    style_weight: float = 0.1
    # Length of the generator's noise vector z ~ N(0, I).
    z_dim: int = positive(100)
    # Channels of the generator's first 4 x 4 maps (halved at every doubling); the paper's is 2048.
    # Only the generator shrinks with it: the discriminator, the classifier we keep, is the paper's.
    generator_channels: int = positive(2048)
    # Seed of the initial weights, the data order and the noise.
    seed: int = 0


EvalRow = Literal[ModelName, "base"]  # Table I's rows: the six models, then the untrained baseline
EVAL_ROWS = typing.get_args(EvalRow)


@dataclass
class EvaluationConfig:
    # Models to evaluate, in table order ("base" = Stable Diffusion before any DDPO).
    models: list[EvalRow] = field(default_factory=lambda: list(EVAL_ROWS))
    # Images per model; image i uses prompt i mod 24 and seed i, identical across models.
    images: int = positive(200)
    # DDIM steps (the same DDIM scheduler for every model).
    steps: int = positive(30)
    # Classifier-free guidance scale.
    guidance_scale: float = 7.5
    # DDIM eta in [0, 1] (0 = deterministic given the seed).
    eta: float = bounded(0, 1, 0.0)
    # Images per generation batch (seeds are per image, so this does not change the images).
    batch_size: int = positive(8)
    # Images per scoring batch (AVA, ImageReward, CLIP).
    score_batch_size: int = positive(32)
    # Figure 1's rows: indices into the evaluation set (each row: one prompt and seed, all models).
    figure_images: list[int] = non_negative(factory=lambda: [0, 9, 18, 3, 12, 23])


@dataclass
class UserStudyConfig:
    # Models rated, in Table II's order (the paper's six; the untrained base was not rated).
    models: list[ModelName] = field(default_factory=lambda: list(MODEL_NAMES))
    # Indices into the evaluation set: the same five prompts and seeds for every model (paper: 5 images).
    image_indices: list[int] = non_negative(factory=lambda: [0, 5, 10, 15, 20])
    # Seed of the kit's shuffled order and anonymous image ids.
    seed: int = 0
    # Coverage of Table II's confidence intervals (Student t over the ratings of one model and question).
    confidence: float = 0.95
    # Simulated raters in the synthetic example file used when no human responses exist.
    synthetic_raters: int = positive(25)


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
    clip_lr: float = 1e-3
    # CLIP: fraction of training texts that are the bare style text (the rest: caption + its style).
    clip_style_text_rate: float = 0.5
    # CLIP: initial value of the learned logit scale (the temperature's inverse). OpenAI's CLIP ends training at
    # its clamp of 100; started at transformers' default (about 14) the miniature's image embeddings collapse
    # onto the 27 style texts (cosine 0.98), and the text classifier's ambiguity has no room to move.
    clip_logit_scale: float = positive(100.0)
    # UNet: channels per resolution level (the first, full-resolution level has no attention).
    unet_channels: list[int] = positive(factory=lambda: [32, 64, 64])
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
    diffusion_lr: float = 1e-3
    # Diffusion: decay of the exponential moving average of the UNet weights that is saved.
    ema_decay: float = 0.999
    # Diffusion: fraction of texts replaced by the empty prompt (trains classifier-free guidance).
    caption_dropout: float = 0.1
    # Diffusion: fraction of texts that are the caption without its style (style-free prompts still work).
    style_free_rate: float = 0.2
    # Quality checks: DDIM steps and classifier-free guidance scale of the sampled images.
    check_steps: int = positive(20)
    check_guidance_scale: float = 3.0
    # Seed of the weights, the batches, the noise and the embedded data.
    seed: int = 0


@dataclass
class Config:
    # Profile name, also the params/<profile>.yaml it came from.
    profile: str = "paper"
    models: ModelsConfig = field(default_factory=ModelsConfig)
    data: DataConfig = field(default_factory=DataConfig)
    centroids: CentroidsConfig = field(default_factory=CentroidsConfig)
    can: CanConfig = field(default_factory=CanConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    ddpo: DdpoConfig = field(default_factory=DdpoConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    user_study: UserStudyConfig = field(default_factory=UserStudyConfig)
    miniature: MiniatureConfig = field(default_factory=MiniatureConfig)


def load(profile: str = "tiny", **sections: dict | None) -> Config:
    """Read ``params/<profile>.yaml``, merge the given sections over it (None = keep the file's), validate."""
    if profile not in PROFILES:
        raise ConfigError(f"Unknown profile '{profile}'; choose one of {', '.join(PROFILES)}.")
    path = paths.params_file(profile)
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of sections, not {type(raw).__name__}.")
    for name, override in sections.items():
        if override is None:
            continue
        if not isinstance(override, dict):
            raise ConfigError(f"Parameter '{name}' must be a mapping, got {type(override).__name__}.")
        base = raw.get(name) or {}
        raw[name] = {**base, **override}
    if raw.get("profile", profile) != profile:
        raise ConfigError(f"{path} says profile '{raw['profile']}' but was loaded as '{profile}'.")
    raw["profile"] = profile
    return from_dict(raw, where=str(path.relative_to(paths.REPO)))


def from_dict(raw: dict, where: str = "config") -> Config:
    """Build a ``Config`` from plain data, rejecting unknown keys and wrong types by name."""
    return _build(Config, raw, prefix="", where=where)


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def _build(cls: type, raw: Any, prefix: str, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: '{prefix.rstrip('.') or 'top level'}' must be a mapping.")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key '{prefix}{unknown[0]}'; known keys here are {', '.join(sorted(known))}."
        )
    metadata = {f.name: f.metadata for f in dataclasses.fields(cls)}
    bounds = {name: (meta.get("min"), meta.get("max")) for name, meta in metadata.items()}
    values = {}
    for name, value in raw.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, value, f"{prefix}{name}.", where)
            continue
        values[name] = _check(value, hint, f"{prefix}{name}", where)
        if metadata[name].get("nonempty") and not value:
            raise ConfigError(f"{where}: key '{prefix}{name}' must hold at least one item, got [].")
        low, high = bounds[name]
        numbers = [v for v in (value if isinstance(value, list) else [value]) if v is not None]
        if low is not None and any(v < low for v in numbers):
            raise ConfigError(f"{where}: key '{prefix}{name}' must be at least {low}, got {value!r}.")
        if high is not None and any(v > high for v in numbers):
            raise ConfigError(f"{where}: key '{prefix}{name}' must be at most {high}, got {value!r}.")
    return cls(**values)


def _check(value: Any, hint: Any, key: str, where: str) -> Any:
    if not _fits(value, hint):
        raise ConfigError(
            f"{where}: key '{key}' must be {_describe(hint)}, got {value!r} ({type(value).__name__})."
        )
    if hint is float:
        return float(value)
    return value


def _fits(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return value in typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in typing.get_args(hint))
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if origin is list:
        item = typing.get_args(hint)[0]
        return "a list of " + {str: "strings", int: "integers", float: "numbers"}.get(item, _describe(item))
    return {type(None): "null", bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )
