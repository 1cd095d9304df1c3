"""The learning-rate schedule both trainings use: a linear warm-up, then constant or a cosine decay."""

from __future__ import annotations

import numpy as np
import torch


def lr_factor(step: int, warmup: int, total: int | None = None) -> float:
    """The learning rate's multiplier at optimiser step ``step`` (from 0): (step + 1) / warmup over the
    first ``warmup`` steps, then 1, or, given ``total`` steps, a cosine from 1 down to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    if total is None:
        return 1.0
    return 0.5 * (1 + np.cos(np.pi * (step - warmup) / max(1, total - warmup)))


def warmup_schedule(
    optimiser: torch.optim.Optimizer,
    warmup: int,
    total: int | None = None,
) -> torch.optim.lr_scheduler.LambdaLR:
    """``lr_factor`` as a scheduler, stepped once per optimiser step."""
    return torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: lr_factor(step, warmup, total))
