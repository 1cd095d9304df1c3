"""The mini profile's miniature world: a tiny CLIP and a tiny Stable Diffusion pretrained on the embedded styles.

With random weights (profile ``tiny``) no reward means anything. Here both models first learn the embedded
dataset's 27 styles on a CPU, so the paper's effect can be seen without a GPU:

* CLIP (a real ``CLIPModel``) learns contrastively from (image, text) pairs. The embedded captions name a
  medium, a subject and a texture but never the style, and a texture is shared by three styles, so captions
  alone cannot teach zero-shot style recognition. Each image's text is therefore either its caption with
  ", in the style of <style>" added or the bare style text (what the ``text`` classifier embeds, notebook 02).
  Bare style texts repeat within a batch, so the InfoNCE targets count identical texts as matches.
* Stable Diffusion (a real ``StableDiffusionPipeline``) is a text-conditioned v-prediction UNet in pixel
  space, conditioned on CLIP's trained text tower. Its "VAE" is an ``AutoencoderTiny`` set by hand to the
  identity on pixels (no autoencoder to train, nothing lost); ``scaling_factor`` maps its latents to
  pixels in [-1, 1]. Captions are dropped (empty prompt) at random so classifier-free guidance works, and
  some keep no style words so that a style-free prompt ("painting of a man") still draws every style.

``build`` trains both (``miniature_training``, deterministic given the seed) and saves them with
``save_pretrained``; a folder whose provenance matches the settings is reused, and a folder is only
ever renamed into place whole. The checks here measure what they learned (``benchmarks/mini_quality.py``).
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from diffusers import StableDiffusionPipeline
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from transformers import CLIPModel, CLIPProcessor

from clipcreate_lib import artifacts, paths
from clipcreate_lib.config import MiniatureConfig
from clipcreate_lib.data.wikiart import WIKIART_STYLES, style_text
from clipcreate_lib.models import clip_space
from clipcreate_lib.models.miniature_training import Examples, embedded_split, train_clip, train_diffusion

CLIP_DIR = paths.MINIATURE_FOLDERS["clip"]
STABLE_DIFFUSION_DIR = paths.MINIATURE_FOLDERS["stable_diffusion"]
JUDGE_CLIP_DIR = paths.MINIATURE_FOLDERS["judge_clip"]
# The judge CLIP's seed is the miniature's plus this: other initial weights, other batches and, since
# the embedded images are drawn from the seed, other training images than the reward's CLIP saw.
JUDGE_SEED_OFFSET = 1
METRICS = "metrics.csv"  # the training loss of every step, saved in each model's folder


@dataclass
class MiniaturePaths:
    """The two saved folders: a CLIP (model + processor) and a Stable Diffusion pipeline."""

    clip: Path
    stable_diffusion: Path


def style_prompts() -> list[str]:
    """The texts zero-shot classification compares images with: the style names, as notebook 02 embeds them."""
    return [style_text(s) for s in WIKIART_STYLES]


# --- quality checks ------------------------------------------------------------------------------
@torch.no_grad()
def zero_shot_predictions(images: torch.Tensor, model: CLIPModel, processor: CLIPProcessor) -> torch.Tensor:
    """The style (index into ``WIKIART_STYLES``) whose text is nearest to each image in CLIP space."""
    texts = clip_space.text_embeddings(style_prompts(), model, processor)
    return (clip_space.image_embeddings(images, model, processor) @ texts.T).argmax(dim=1).cpu()


def zero_shot_accuracy(examples: Examples, model: CLIPModel, processor: CLIPProcessor) -> float:
    return (zero_shot_predictions(examples.images, model, processor) == examples.labels).float().mean().item()


@torch.no_grad()
def kmeans_ari(examples: Examples, model: CLIPModel, processor: CLIPProcessor, seed: int) -> float:
    """Adjusted Rand index of k-means (k = 27) on the image embeddings against the style labels."""
    embeddings = clip_space.image_embeddings(examples.images, model, processor).cpu().numpy()
    clusters = KMeans(len(WIKIART_STYLES), n_init=10, random_state=seed).fit_predict(embeddings)
    return adjusted_rand_score(examples.labels.numpy(), clusters)


@torch.no_grad()
def style_samples(
    pipe: StableDiffusionPipeline,
    prompts: Sequence[str],
    clip: CLIPModel,
    processor: CLIPProcessor,
    steps: int,
    guidance_scale: float,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One image per prompt (DDIM, eta 0, noise from ``seed``) and the style zero-shot CLIP sees in each."""
    images = pipe(
        prompt=list(prompts),
        height=pipe.unet.config.sample_size,
        width=pipe.unet.config.sample_size,
        num_inference_steps=steps,
        guidance_scale=guidance_scale,
        eta=0.0,
        output_type="pt",
        generator=torch.Generator().manual_seed(seed),
    ).images
    return images, zero_shot_predictions(images, clip, processor)


def style_recognition_rate(
    pipe: StableDiffusionPipeline,
    prompts: Sequence[str],
    labels: torch.Tensor,
    clip: CLIPModel,
    processor: CLIPProcessor,
    steps: int,
    guidance_scale: float,
    seed: int,
) -> float:
    """The fraction of ``style_samples`` whose zero-shot CLIP style is the prompted one (``labels``)."""
    _, predicted = style_samples(pipe, prompts, clip, processor, steps, guidance_scale, seed)
    return (predicted == labels).float().mean().item()


# --- building and caching ------------------------------------------------------------------------
def build(cfg: MiniatureConfig, out_dir: Path, progress: bool = True) -> MiniaturePaths:
    """Train and save the miniature CLIP and Stable Diffusion under ``out_dir``, reusing a folder whose
    provenance matches: the CLIP's holds the settings it depends on, Stable Diffusion's all of them."""
    out_dir = Path(out_dir)
    made = MiniaturePaths(out_dir / CLIP_DIR, out_dir / STABLE_DIFFUSION_DIR)
    clip_record = {"miniature": clip_settings(cfg)}
    diffusion_record = {"miniature": dataclasses.asdict(cfg)}
    clip_current = artifacts.is_current(made.clip, clip_record)
    if clip_current and artifacts.is_current(made.stable_diffusion, diffusion_record):
        return made
    train, _ = embedded_split(cfg)
    if clip_current:
        clip, processor = CLIPModel.from_pretrained(made.clip).eval(), CLIPProcessor.from_pretrained(made.clip)
    else:
        clip, processor, losses = train_clip(cfg, train, progress)

        def save_clip(folder: Path) -> None:
            clip.save_pretrained(folder)
            processor.save_pretrained(folder)

        _publish(made.clip, clip_record, losses, save_clip)
    pipe, losses = train_diffusion(cfg, train, clip, processor, progress)
    _publish(made.stable_diffusion, diffusion_record, losses, pipe.save_pretrained)
    return made


def judge_settings(cfg: MiniatureConfig) -> MiniatureConfig:
    """The judge CLIP's settings: the reward CLIP's, with the seed moved by ``JUDGE_SEED_OFFSET``."""
    return dataclasses.replace(cfg, seed=cfg.seed + JUDGE_SEED_OFFSET)


def build_judge(cfg: MiniatureConfig, out_dir: Path, progress: bool = True) -> Path:
    """Train and save (or reuse, while its settings match) the held-out judge of notebook 05: a second
    miniature CLIP of the same size, trained as the first on embedded images of another seed, so no
    image, weight or batch of the reward's CLIP is shared with it."""
    target = Path(out_dir) / JUDGE_CLIP_DIR
    judge = judge_settings(cfg)
    record = {"miniature": clip_settings(judge), "judge_of": clip_settings(cfg)}
    if artifacts.is_current(target, record):
        return target
    clip, processor, losses = train_clip(judge, embedded_split(judge)[0], progress)

    def save(folder: Path) -> None:
        clip.save_pretrained(folder)
        processor.save_pretrained(folder)

    _publish(target, record, losses, save)
    return target


def clip_settings(cfg: MiniatureConfig) -> dict:
    """The settings the CLIP depends on: its own and the data's (changing the diffusion's keeps the CLIP)."""
    data_keys = ("image_size", "train_per_style", "held_out_per_style", "seed")
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k.startswith("clip_") or k in data_keys}


def _publish(target: Path, made_from: dict, losses: list[float], write: Callable[[Path], object]) -> None:
    """``write`` and the training losses (``metrics.csv``) into a temporary folder beside ``target``, swap it
    into place, then record its provenance. The old provenance goes first, so an interruption at any point
    leaves no folder that looks current."""
    target.parent.mkdir(parents=True, exist_ok=True)
    artifacts.provenance_file(target).unlink(missing_ok=True)
    tmp = artifacts.staging_dir(target)
    try:
        write(tmp)
        artifacts.save_csv(tmp / METRICS, pd.DataFrame({"step": range(1, len(losses) + 1), "loss": losses}))
        artifacts.replace_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    artifacts.mark_made_from(target, made_from)
