"""Why the clip fraction is higher under bf16: the PPO log-ratios of the mini model's steps in bf16
against float32, before and after the same weight updates.

PPO compares each stored DDIM step's log-prob at sampling with its log-prob under the weights after
some optimiser steps; the clip range (1e-4) bounds that ratio. This samples one batch of the mini
profile's Stable Diffusion (float32), then, for each precision (float32; bf16 autocast of the UNet as the
GPU defaults run it; bf16 with the UNet's last layers in float32), prints:

- before any update: the largest |log-ratio| between a step's log-prob as sampled (one UNet call per
  step) and as the update rescores it (``timesteps_per_pass`` steps per call): 0 means the two passes agree;
- after each of ``--steps`` AdamW steps (the same float32 updates for every precision, from a
  gradient of random advantages, the profile's learning rate and warm-up): the fraction of steps whose
  |ratio - 1| exceeds the clip range (the profile's, 3x and 10x it), the median |log-ratio|, and how far
  the precision's log-ratios are from float32's (the rounding noise: the median absolute difference,
  the correlation, and at each clip range the share of steps whose clip decision differs from float32's).

If bf16's noise is of the size of the clip range, PPO clips steps because of rounding, not learning.

    CLIPCREATE_WORKDIR=<work folder with the mini notebooks 01-02> OMP_NUM_THREADS=1 \\
        .venv/bin/python benchmarks/bf16_log_ratio.py [--images 8] [--steps 3]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import tempfile
from pathlib import Path

import torch

from clipcreate_lib import session
from clipcreate_lib.ddpo import precision, update
from clipcreate_lib.ddpo.trainer import Trainer
from clipcreate_lib.models import loaders


class Float32Last(torch.nn.Module):
    """A layer run in float32 under autocast: its input cast up, autocast off."""

    def __init__(self, layer: torch.nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        with torch.autocast(x.device.type, enabled=False):
            return self.layer(x.float())


def precisions(trainer: Trainer) -> dict[str, tuple]:
    """Each precision's (autocast, context for the UNet's last layers)."""
    unet, bf16 = trainer.pipe.unet, precision.unet_autocast(trainer.device, True, cpu_bf16=True)

    @contextlib.contextmanager
    def float32_last():
        layers = unet.conv_norm_out, unet.conv_out
        unet.conv_norm_out, unet.conv_out = Float32Last(layers[0]), Float32Last(layers[1])
        try:
            yield
        finally:
            unet.conv_norm_out, unet.conv_out = layers

    return {
        "float32": (contextlib.nullcontext, contextlib.nullcontext),
        "bf16": (bf16, contextlib.nullcontext),
        "bf16, last layers float32": (bf16, float32_last),
    }


def all_log_probs(trainer: Trainer, autocast, last, traj, prompts) -> torch.Tensor:
    policy = copy.copy(trainer.policy)
    policy.autocast = autocast
    with torch.no_grad(), last():
        return torch.cat(
            [policy.log_probs(traj.latents, traj.timesteps, js, prompts) for js in policy.passes(traj.timesteps)]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3, help="optimiser steps")
    args = parser.parse_args()
    cfg = session.start("mini")
    pipe = loaders.load_stable_diffusion(cfg)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(
            pipe, lambda images, prompts: {"reward": images.mean((1, 2, 3))}, cfg.ddpo, Path(out), progress=False
        )
        kinds = precisions(trainer)
        index = torch.arange(args.images) % len(cfg.ddpo.prompts)
        prompts = trainer.policy.prompt_embeddings[index]
        for name, (autocast, last) in kinds.items():  # each precision's own samples, rescored
            sampler = copy.copy(trainer.policy)
            sampler.autocast = autocast
            with torch.no_grad(), last():
                own = sampler.sample(index, torch.Generator().manual_seed(0))
            rescored = all_log_probs(trainer, autocast, last, own, prompts)
            sampled = torch.cat([own.log_probs[:, js].flatten() for js in trainer.policy.passes(own.timesteps)])
            gap = float((rescored - sampled).abs().max())
            print(f"{name}: before any update, largest |log-ratio| sampling vs rescoring {gap:.2e}")
        with torch.no_grad():
            # float32 samples, which every precision rescores
            traj = trainer.policy.sample(index, torch.Generator().manual_seed(0))
        old = {name: all_log_probs(trainer, *kind, traj, prompts) for name, kind in kinds.items()}
        batch = {"latents": traj.latents, "log_probs": traj.log_probs, "prompt_index": index,
                 "advantages": torch.randn(args.images, generator=torch.Generator().manual_seed(1))}  # fmt: skip
        clips = (cfg.ddpo.clip_range, 3 * cfg.ddpo.clip_range, 10 * cfg.ddpo.clip_range)
        lr, warmup = cfg.ddpo.learning_rate, cfg.ddpo.lr_warmup_steps
        print(f"after AdamW steps (lr {lr}, warm-up {warmup}); clip ranges: the profile's {clips[0]:g}, 3x, 10x:")
        for step in range(1, args.steps + 1):
            sums = {k: torch.zeros((), dtype=torch.float64) for k in ("loss", "approx_kl", "clipfrac")}
            counts = {"scored": 0, "skipped_terms": 0, "skipped_steps": 0}
            passes = trainer.policy.passes(traj.timesteps)
            update.accumulate(
                trainer.policy, cfg.ddpo, batch, 1.0, traj.timesteps, passes, trainer.processes, sums, counts
            )
            update.optimiser_step(trainer.state, cfg.ddpo, counts)
            ratios = {}
            for name, (autocast, last) in kinds.items():
                ratios[name] = all_log_probs(trainer, autocast, last, traj, prompts) - old[name]
            for name, r in ratios.items():
                noise = float((r - ratios["float32"]).abs().median())
                corr = float(torch.corrcoef(torch.stack([r, ratios["float32"]]))[0, 1])
                shares = ", ".join(
                    f"{c:g}: {clip_share(r, c):.3f}/{flipped(r, ratios['float32'], c):.3f}" for c in clips
                )
                size = float(r.abs().median())
                print(f"  step {step} {name:26s} median |log-ratio| {size:.2e}, its median |difference| "
                      f"from float32's {noise:.2e}, corr {corr:.3f}; clipped/flipped {shares}")  # fmt: skip


def clip_share(log_ratio: torch.Tensor, clip: float) -> float:
    """The share of steps PPO clips at ``clip``: |ratio - 1| > clip."""
    return float(((log_ratio.exp() - 1).abs() > clip).float().mean())


def flipped(log_ratio: torch.Tensor, reference: torch.Tensor, clip: float) -> float:
    """The share of steps whose clip decision at ``clip`` differs from ``reference``'s."""
    return float((((log_ratio.exp() - 1).abs() > clip) != ((reference.exp() - 1).abs() > clip)).float().mean())


if __name__ == "__main__":
    main()
