"""The standard normal draws of DDIM sampling, apart from the sampling itself: a batch's noise is the
same whether it goes through the UNet alone, beside other batches, or not at all (another process's)."""

from __future__ import annotations

import torch
from diffusers import StableDiffusionPipeline


def draw_noise(
    pipe: StableDiffusionPipeline, images: int, steps: int, generator: torch.Generator | None, device=None
) -> torch.Tensor:
    """The noise ``sample`` uses for a batch of ``images``, (steps + 1, images, C, h, w): the initial
    latents, then one draw per step, in that order from ``generator``. Drawn apart from sampling, so
    several batches' noise can go through one UNet call with the samples they would have had alone."""
    size = pipe.unet.config.sample_size
    shape = (images, pipe.unet.config.in_channels, size, size)
    return torch.stack([torch.randn(shape, generator=generator, device=device) for _ in range(steps + 1)])


def skip_noise(pipe: StableDiffusionPipeline, images: int, steps: int, generator: torch.Generator) -> None:
    """Draw and drop ``draw_noise``'s noise, leaving ``generator`` where sampling that batch would: how
    a process passes over another's batches of an epoch at the cost of the random numbers alone."""
    draw_noise(pipe, images, steps, generator, generator.device)
