"""What every notebook does first: load its settings, send its outputs to the profile's folders, and run
small CPU models the way ``run_all.sh`` does, so a notebook run from JupyterLab matches a scripted run."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from clipcreate_lib import config, paths

SMALL_MODELS = ("tiny", "mini")  # models.source values whose models run fastest on one torch thread


def start(profile: str | Path, overrides: dict | None = None) -> config.Config:
    """The validated settings of ``profile`` with ``overrides`` (``config.check_notebooks`` included),
    the profile made active for paths, and
    one torch thread for the small models (on small CPUs one thread beats two) unless OMP_NUM_THREADS
    says otherwise, and deterministic kernels when ``models.deterministic`` asks for them."""
    cfg = config.check_notebooks(config.load(profile, overrides))
    paths.use_profile(cfg.profile)
    if cfg.models.source in SMALL_MODELS and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)
    use_deterministic_kernels(cfg.models.deterministic)
    return cfg


def use_deterministic_kernels(on: bool) -> None:
    """``models.deterministic`` for this process (and, through the environment, those it starts):
    before any CUDA work, since cuBLAS reads its workspace setting when it starts."""
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(on)
