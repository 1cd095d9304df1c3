"""The evaluation protocol (docs/method.md): one fixed set of (prompt, seed) pairs for every model,
generated with one scheduler.

Image i uses prompt i mod 24 and seed i; each image has its own generator, so an image does not
depend on the batch it was made in, a partial set can be completed later, and every model sees the
same starting noise. A set is stored as PNGs with a manifest whose provenance says what made it;
a set made with other settings or other weights is discarded (with a message), never mixed in. Sets of
several models can be made side by side in worker processes, one model each, as DDPO's runs are
trained (``ddpo.runs``): an image depends only on its model, prompt and seed, so the sets are the same.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import torch
from diffusers import DDIMScheduler, StableDiffusionPipeline
from PIL import Image

from clipcreate_lib import artifacts, config
from clipcreate_lib.config import Config, EvaluationConfig
from clipcreate_lib.data.image_io import images_as_tensor
from clipcreate_lib.ddpo import runs, weights
from clipcreate_lib.models import loaders
from clipcreate_lib.progress import bar

MEDIUMS = ("painting", "art", "drawing")
SUBJECTS = (
    " of a man ",
    " of a woman ",
    " of nature ",
    " of an animal ",
    " of a city",
    " ",
    " of a building ",
    " of a child ",
)
PROMPTS = [medium + subject for medium in MEDIUMS for subject in SUBJECTS]  # the paper's 24, spaces and all
MANIFEST = "manifest.csv"


def prompt(index: int) -> str:
    return PROMPTS[index % len(PROMPTS)]


def generate(
    pipe: StableDiffusionPipeline, cfg: EvaluationConfig, out_dir: Path, made_from: dict, progress: bool = True
) -> pd.DataFrame:
    """Images 0 .. cfg.images - 1 of one model into ``out_dir`` (PNGs and a manifest); returns the
    manifest (model, index, prompt, seed, file). Images already there with the same provenance are
    reused, missing ones made; a set with other provenance is deleted first."""
    if not isinstance(pipe.scheduler, DDIMScheduler):
        raise TypeError(f"Evaluation uses DDIM for every model, but the pipeline has {type(pipe.scheduler).__name__}.")
    out_dir = Path(out_dir)
    manifest_file = out_dir / MANIFEST
    made_from = {
        **made_from,
        "steps": cfg.steps,
        "guidance_scale": cfg.guidance_scale,
        "eta": cfg.eta,
        "scheduler": "DDIMScheduler",
        "prompts": PROMPTS,
    }
    rows = _reusable_rows(out_dir, made_from)
    done = {r["index"] for r in rows}
    todo = [i for i in range(cfg.images) if i not in done]
    batches = [todo[s : s + cfg.batch_size] for s in range(0, len(todo), cfg.batch_size)]
    model = made_from.get("model", out_dir.name)
    for batch in bar(batches, desc=f"images of {model}", unit="batch", disable=not progress or not batches):
        images = pipe(
            prompt=[prompt(i) for i in batch],
            num_inference_steps=cfg.steps,
            guidance_scale=cfg.guidance_scale,
            eta=cfg.eta,
            output_type="pil",
            generator=[torch.Generator().manual_seed(i) for i in batch],
        ).images
        for i, image in zip(batch, images):
            file = f"images/{i:05d}.png"
            artifacts.atomic_write(out_dir / file, lambda f, im=image: im.save(f, format="PNG"))
            rows.append({"model": model, "index": i, "prompt": prompt(i), "seed": i, "file": file})
        artifacts.save_csv(manifest_file, pd.DataFrame(rows).sort_values("index"))
    manifest = pd.DataFrame(rows).sort_values("index")
    return manifest[manifest["index"] < cfg.images].reset_index(drop=True)


def generate_model(cfg: Config, name: str, run_dir: Path | None, out_dir: Path, progress: bool = True) -> pd.DataFrame:
    """``generate`` the set of model ``name``: the profile's Stable Diffusion, with the trained weights of
    the DDPO run in ``run_dir`` (None: the untrained ``base``), into ``out_dir``."""
    pipe = loaders.load_stable_diffusion(cfg)
    made_from = {
        "model": name,
        "profile": cfg.profile,
        "stable_diffusion": loaders.model_name(cfg.models, "stable_diffusion"),
    }
    if run_dir is not None:
        made_from["trained"] = weights.weights_record(run_dir, cfg.profile)
        weights.load_trained(pipe, run_dir)
    return generate(pipe, cfg.evaluation, out_dir, made_from, progress)


def generate_all(cfg: Config, sets: dict[str, tuple[str, Path | None, Path]]) -> dict[str, pd.DataFrame]:
    """The manifest of every set of ``sets`` (key -> the model, its run folder or None, the set's
    folder; ``generate_model``), in turn here or ``cfg.evaluation.processes`` at a time in workers,
    each on its own GPU where there are GPUs."""
    workers = min(cfg.evaluation.processes, len(sets))
    if workers <= 1:
        return {key: generate_model(cfg, *job) for key, job in sets.items()}
    print(f"making {len(sets)} sets, {workers} at a time in worker processes (one torch thread each)")
    with runs.worker_pool(workers, cfg.models.deterministic) as pool:
        made = {key: pool.submit(_generate_in_worker, config.to_dict(cfg), *job) for key, job in sets.items()}
        return {key: manifest.result() for key, manifest in made.items()}


def _generate_in_worker(raw: dict, name: str, run_dir: Path | None, out_dir: Path) -> pd.DataFrame:
    return generate_model(config.from_dict(raw), name, run_dir, out_dir, progress=False)


def _reusable_rows(out_dir: Path, made_from: dict) -> list[dict]:
    """The manifest rows of ``out_dir`` whose image is there, once its provenance is ``made_from``: a
    set made otherwise is deleted first, saying what differs."""
    manifest_file = out_dir / MANIFEST
    if artifacts.provenance_file(manifest_file).exists():
        changed = artifacts.changed_keys(artifacts.read_made_from(manifest_file), made_from)
        if changed:
            print(f"{out_dir}: its images were made with other {', '.join(changed)}; making them again.")
            shutil.rmtree(out_dir / "images", ignore_errors=True)
            manifest_file.unlink(missing_ok=True)
    artifacts.mark_made_from(manifest_file, made_from)
    rows = pd.read_csv(manifest_file).to_dict("records") if manifest_file.exists() else []
    return [r for r in rows if (out_dir / r["file"]).exists()]


def load_images(out_dir: Path, manifest: pd.DataFrame) -> torch.Tensor:
    """The manifest's images as a float tensor (N, 3, H, W) in [0, 1]."""
    return images_as_tensor([Image.open(Path(out_dir) / f) for f in manifest["file"]])
