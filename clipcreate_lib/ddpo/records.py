"""A DDPO run's files, and the order that makes a kill at any moment harmless.

The checkpoint is the record: after every epoch it is written first (atomically), and every other
file is derived from it. ``metrics.csv`` and ``timings.csv`` follow it; the trained weights and
``trained.json`` (written last, so it vouches for the weights beside it) are published once the run
has trained the epochs asked of it. A run that starts (or resumes) first deletes what an interrupted
write of its own files left behind, then rewrites any derived file that disagrees with the
checkpoint, so a checkpoint and its logs never disagree after a resume.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch
from diffusers import StableDiffusionPipeline

from clipcreate_lib import artifacts
from clipcreate_lib.ddpo.state import TrainingState
from clipcreate_lib.ddpo.weights import EXPORTS, TRAINED, export_weights, trained_weights

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.csv"  # per epoch: every reward term, the update's statistics; the same in any rerun
TIMINGS = "timings.csv"  # per epoch: the seconds spent sampling, scoring and training, which do differ
# The first SAMPLES_KEPT images of the first epoch, of every ddpo.log_images_every-th and of the last
# (epoch -> uint8 (N, H, W, 3)): notebook 04's grid of training samples, where a collapse shows as it
# happens. Written before the checkpoint, so an epoch redone after a kill rewrites its own bits.
SAMPLES = "samples.pt"
SAMPLES_KEPT = 4
FILES = (CHECKPOINT, METRICS, TIMINGS, SAMPLES, TRAINED, *EXPORTS)


def samples_due(epoch: int, every: int, epochs: int) -> bool:
    """Whether epoch ``epoch`` (from 1) of ``epochs`` keeps its samples (``every`` = 0: none)."""
    return every > 0 and (epoch == 1 or epoch % every == 0 or epoch == epochs)


def save_samples(out_dir: Path, epoch: int, images: torch.Tensor) -> None:
    """Add ``epoch``'s images (N, 3, H, W) in [0, 1] to the run's samples file, rewritten atomically."""
    kept = load_samples(out_dir)
    kept[epoch] = (images.detach().permute(0, 2, 3, 1).cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    artifacts.atomic_write(out_dir / SAMPLES, lambda f: torch.save(dict(sorted(kept.items())), f))


def load_samples(out_dir: Path) -> dict[int, torch.Tensor]:
    """The run's kept samples by epoch (none yet: empty)."""
    path = Path(out_dir) / SAMPLES
    return torch.load(path, map_location="cpu", weights_only=True) if path.exists() else {}


def write_epoch(out_dir: Path, run: dict, state: TrainingState) -> None:
    """The checkpoint of the epoch just trained, then the logs derived from it."""
    checkpoint = {"run": run, **state.state_dict()}
    artifacts.atomic_write(out_dir / CHECKPOINT, lambda f: torch.save(checkpoint, f))
    write_logs(out_dir, state)


def write_logs(out_dir: Path, state: TrainingState) -> None:
    artifacts.save_csv(out_dir / METRICS, pd.DataFrame(state.history))
    artifacts.save_csv(out_dir / TIMINGS, pd.DataFrame(state.timings))


def load_checkpoint(out_dir: Path, run: dict) -> dict:
    """The run's checkpoint, refused when it was made with other settings (named)."""
    path = out_dir / CHECKPOINT
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    artifacts.refuse_other_run(path, checkpoint["run"], run)
    return checkpoint


def tidy(out_dir: Path, state: TrainingState) -> None:
    """At a run's start: its own stale temporaries deleted, and logs that disagree with the
    checkpoint (a kill between the two writes) rewritten from it."""
    artifacts.remove_temporaries(out_dir, FILES)
    if state.epoch:
        artifacts.repair_csv(out_dir / METRICS, pd.DataFrame(state.history))
        artifacts.repair_csv(out_dir / TIMINGS, pd.DataFrame(state.timings))


def publish(out_dir: Path, run: dict, state: TrainingState, pipe: StableDiffusionPipeline, lora: bool) -> None:
    """The trained weights and ``trained.json`` for the checkpoint's epoch, unless they are there already."""
    if published_epochs(out_dir) != state.epoch:
        export_weights(pipe, out_dir, lora)
        artifacts.save_json(out_dir / TRAINED, {"epochs": state.epoch, **run})


def published_epochs(out_dir: Path) -> int | None:
    """The epochs of the weights ``trained.json`` vouches for, or None when there are none."""
    try:
        trained_weights(out_dir)
        return json.loads((out_dir / TRAINED).read_text())["epochs"]
    except (FileNotFoundError, KeyError, ValueError):
        return None
