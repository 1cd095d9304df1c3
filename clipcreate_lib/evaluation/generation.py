"""The evaluation protocol (docs/method.md): one fixed set of (prompt, seed) pairs for every model,
generated with one scheduler.

Image i uses prompt i mod 24 and seed i; each image has its own generator, so an image does not
depend on the batch it was made in, a partial set can be completed later, and every model sees the
same starting noise. A set is stored as PNGs with a manifest whose provenance says what made it;
a set made with other settings or other weights is discarded (with a message), never mixed in.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import torch
from diffusers import DDIMScheduler, StableDiffusionPipeline
from PIL import Image

from clipcreate_lib import artifacts
from clipcreate_lib.config import EvaluationConfig
from clipcreate_lib.data.image_io import images_as_tensor
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
