"""Notebook 07's image sets. The untrained and DDPO models' come from notebook 05's folders, read once
their manifests say they were made with this profile's evaluation settings; each guided set is made
here by notebook 05's own ``generation.generate`` (through ``GuidedPipeline``), scored by its own
``scoring.score``, and stored with what it cost."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from diffusers import StableDiffusionPipeline

from clipcreate_lib import artifacts, config, paths
from clipcreate_lib.config import Config
from clipcreate_lib.ddpo import records
from clipcreate_lib.ddpo.runs import reward_settings, worker_pool
from clipcreate_lib.evaluation import generation, judges, scoring
from clipcreate_lib.guidance.pipeline import Cost, GuidedPipeline
from clipcreate_lib.models import clip_space, loaders
from clipcreate_lib.styles import classifiers, rewards

COST = "cost.json"  # seconds and UNet evaluations per image of a guided set, beside its images
METHOD_SETTINGS = {
    "onestep": ("onestep_scale", "onestep_normalise", "onestep_guided_fraction", "onestep_crops", "cut_power")
    + ("autocast",),
    "doodl": ("doodl_steps", "doodl_lr", "doodl_clip", "doodl_momentum", "doodl_perturbation", "doodl_backtrack")
    + ("doodl_crops", "cut_power", "edict_mixing", "autocast"),
}


@dataclass
class Scorer:
    """Notebook 05's scores of a set (``scoring.score``, then the held-out judges' ``judges.score``),
    saved beside its images as scores.csv."""

    clip: object
    processor: object
    aesthetic: object
    image_reward: object
    classifiers: dict
    batch_size: int
    judge_clip: object
    judge_processor: object
    held_out: judges.Judges

    def __call__(self, folder: Path, manifest: pd.DataFrame) -> tuple[pd.DataFrame, torch.Tensor]:
        images, prompts = generation.load_images(folder, manifest), list(manifest["prompt"])
        scores, embeddings = scoring.score(
            images, prompts, self.clip, self.processor, self.aesthetic, self.image_reward,
            self.classifiers, self.batch_size,
        )  # fmt: skip
        judged = judges.score(images, prompts, self.judge_clip, self.judge_processor, self.held_out, self.batch_size)
        scored = pd.concat([manifest.reset_index(drop=True), scores, judged], axis=1)
        artifacts.save_csv(folder / scoring.SCORES, scored)
        return scored, embeddings


def protocol_scorer(cfg: Config, clip, processor, style_classifiers: dict) -> Scorer:
    """A ``Scorer`` with notebook 05's scorers for this profile: AVA, ImageReward, ``style_classifiers``
    and the held-out judges (``judges.for_profile``)."""
    batch_size = cfg.evaluation.score_batch_size
    return Scorer(
        clip,
        processor,
        loaders.load_aesthetic(cfg, clip),
        loaders.load_image_reward(cfg, batch_size),
        style_classifiers,
        batch_size,
        *judges.for_profile(cfg),
    )


def protocol_set(cfg: Config, name: str) -> tuple[Path, pd.DataFrame]:
    """(folder, manifest) of notebook 05's images of ``name`` ('base' or a DDPO model), refused unless
    they were made with this profile's evaluation settings and there are ``evaluation.images`` of them."""
    folder = paths.eval_dir(name)
    made = artifacts.require_made_from(folder / generation.MANIFEST, "05_evaluation")
    for key in ("steps", "guidance_scale", "eta"):
        if made.get(key) != getattr(cfg.evaluation, key):
            raise ValueError(
                f"{folder}: notebook 05 made these images with evaluation.{key} = {made.get(key)}, not "
                f"{getattr(cfg.evaluation, key)}; rerun notebook 05 with the settings notebook 07 is given."
            )
    manifest = pd.read_csv(folder / generation.MANIFEST).sort_values("index")
    manifest = manifest[manifest["index"] < cfg.evaluation.images].reset_index(drop=True)
    if len(manifest) < cfg.evaluation.images:
        raise ValueError(f"{folder} holds {len(manifest)} of {cfg.evaluation.images} images; rerun notebook 05.")
    return folder, manifest


@torch.inference_mode()
def image_embeddings(folder: Path, manifest: pd.DataFrame, clip, processor, batch_size: int) -> torch.Tensor:
    """The CLIP image embeddings (N, D) of a set's images (notebook 05 keeps their scores, not these)."""
    parts = []
    for start in range(0, len(manifest), batch_size):
        images = generation.load_images(folder, manifest.iloc[start : start + batch_size])
        parts.append(clip_space.image_embeddings(images, clip, processor).cpu())
    return torch.cat(parts)


def guided_pipeline(
    cfg: Config, pipe: StableDiffusionPipeline, method: str, classifier: str, clip, processor, **settings
) -> GuidedPipeline:
    """``method`` guided by ``classifier``'s training reward (the DDPO model of that name trains on it);
    ``settings`` override the profile's guidance settings (a sweep point)."""
    if cfg.reward.image_reward_weight != 0:
        raise ValueError("Guidance differentiates the reward, and ImageReward is not differentiable here; set 0.")
    classifier_fn = classifiers.load(*classifiers.split_model_name(classifier), cfg, clip)
    reward = rewards.differentiable_reward_fn(classifier_fn, clip, processor, cfg.reward)
    size = processor.image_processor.crop_size["height"]
    return GuidedPipeline(pipe, method, reward, dataclasses.replace(cfg.guidance, **settings), size)


@dataclass(frozen=True)
class GuidedSet:
    """A guided set to make: ``method`` guided by ``classifier`` on the first ``images`` of the
    protocol's (prompt, seed) pairs, into ``folder``; ``settings`` override the profile's guidance
    settings (a sweep point)."""

    method: str
    classifier: str
    images: int
    folder: Path
    settings: dict = dataclasses.field(default_factory=dict)


def make_sets(cfg: Config, sets: dict, pipe: StableDiffusionPipeline, clip, processor) -> dict[object, pd.DataFrame]:
    """The manifest of every ``GuidedSet`` of ``sets`` (key -> set), made in turn here with ``pipe``,
    ``clip`` and ``processor``, or ``guidance.processes`` at a time in worker processes (one torch
    thread each, each on its own GPU where there are GPUs), which load their own; the same images."""
    workers = min(cfg.guidance.processes, len(sets))
    if workers <= 1:
        return {key: make_set(cfg, job, pipe, clip, processor) for key, job in sets.items()}
    print(f"making {len(sets)} guided sets, {workers} at a time in worker processes (one torch thread each)")
    with worker_pool(workers, cfg.models.deterministic) as pool:
        made = {key: pool.submit(_make_in_worker, config.to_dict(cfg), job) for key, job in sets.items()}
        return {key: manifest.result() for key, manifest in made.items()}


def _make_in_worker(raw: dict, job: GuidedSet) -> pd.DataFrame:
    cfg = config.from_dict(raw)
    clip, processor = loaders.load_clip(cfg)
    return make_set(cfg, job, loaders.load_stable_diffusion(cfg), clip, processor, progress=False)


def make_set(
    cfg: Config, job: GuidedSet, pipe: StableDiffusionPipeline, clip, processor, progress: bool = True
) -> pd.DataFrame:
    """The images of ``job`` (reused when made alike before), made with ``pipe`` and rewarded through
    ``clip``; their cost per image is saved beside them when any were made."""
    guided = guided_pipeline(cfg, pipe, job.method, job.classifier, clip, processor, **job.settings)
    kind, dataset = classifiers.split_model_name(job.classifier)
    made_from = {
        "model": f"{job.method} {job.classifier}",
        "profile": cfg.profile,
        "stable_diffusion": loaders.model_name(cfg.models, "stable_diffusion"),
        "clip": loaders.model_name(cfg.models, "clip"),
        "reward": reward_settings(cfg, kind),
        "classifier": artifacts.read_made_from(classifiers.source_file(kind, dataset)),
        "guidance": {key: getattr(guided.settings, key) for key in METHOD_SETTINGS[guided.method]},
    }
    protocol = dataclasses.replace(cfg.evaluation, images=job.images, batch_size=guided.settings.batch_size)
    manifest = generation.generate(guided, protocol, job.folder, made_from, progress)
    if guided.cost.images:
        artifacts.save_json(job.folder / COST, guided.cost.per_image())
    return manifest


def set_cost(folder: Path) -> dict[str, float]:
    """A guided set's cost per image, NaN where none was recorded."""
    file = folder / COST
    return json.loads(file.read_text()) if file.exists() else dict.fromkeys(Cost().per_image(), math.nan)


def ddpo_cost(cfg: Config, name: str, sampling: dict[str, float]) -> dict[str, float]:
    """A DDPO model's cost per evaluation image: its own sampling (``sampling``, the untrained model's,
    the same network) plus its whole training spread over the evaluation's images: every epoch samples
    its images and runs the UNet forward and back again on every step of them per inner epoch."""
    timings = pd.read_csv(paths.ddpo_dir(name) / records.TIMINGS)
    d, images = cfg.ddpo, cfg.evaluation.images
    rows = len(timings) * d.sample_batches * d.sample_batch_size * d.sample_steps * (2 if d.guidance_scale > 1 else 1)
    return {
        "seconds_per_image": sampling["seconds_per_image"] + timings["seconds"].sum() / images,
        "unet_evals_per_image": sampling["unet_evals_per_image"] + rows * (1 + d.inner_epochs) / images,
        "unet_backwards_per_image": rows * d.inner_epochs / images,
    }
