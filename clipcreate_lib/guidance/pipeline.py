"""A guided sampler shaped like a diffusers pipeline, so ``evaluation.generation.generate`` makes,
stores and reuses its images exactly as it does every model's: same (prompt, seed) pairs, same files,
same provenance checks. It also keeps what its images cost (seconds, UNet evaluations)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import torch
from diffusers import StableDiffusionPipeline
from PIL import Image

from clipcreate_lib.config import GuidanceConfig
from clipcreate_lib.ddpo.policy import decode
from clipcreate_lib.ddpo.precision import unet_autocast
from clipcreate_lib.ddpo.rollout import clock
from clipcreate_lib.guidance import doodl, onestep
from clipcreate_lib.guidance.denoiser import Denoiser, initial_latents
from clipcreate_lib.guidance.objective import Objective, RewardFn

METHODS = ("onestep", "doodl")


@dataclass
class Cost:
    images: int = 0
    seconds: float = 0.0
    unet_evals: int = 0  # UNet rows evaluated forward (each half of a guided call one)
    unet_backwards: int = 0  # of those, rows differentiated through

    def per_image(self) -> dict[str, float]:
        n = max(self.images, 1)
        return {
            "seconds_per_image": self.seconds / n,
            "unet_evals_per_image": self.unet_evals / n,
            "unet_backwards_per_image": self.unet_backwards / n,
        }


class GuidedPipeline:
    """``method`` ("onestep" or "doodl") on ``pipe`` with the reward ``reward``, as a callable with a
    pipeline's arguments. ``cut_size`` is CLIP's input side, the size random crops are pooled to."""

    def __init__(
        self, pipe: StableDiffusionPipeline, method: str, reward: RewardFn, settings: GuidanceConfig, cut_size: int
    ):
        if method not in METHODS:
            raise ValueError(f"Unknown guidance method '{method}'; choose one of {', '.join(METHODS)}.")
        self.pipe, self.scheduler, self.method, self.reward, self.settings = (
            pipe,
            pipe.scheduler,
            method,
            reward,
            settings,
        )
        self.autocast = unet_autocast(pipe.unet.device, settings.autocast)
        self.cut_size, self.cost = cut_size, Cost()

    def images(self, prompts: Sequence[str], steps: int, guidance_scale: float, generators) -> torch.Tensor:
        """The guided images (B, 3, H, W) in [0, 1] for ``prompts``, one generator per image."""
        s = self.settings
        denoiser = Denoiser(self.pipe, prompts, guidance_scale, steps, self.autocast)
        latents = initial_latents(self.pipe, generators)
        crops = s.onestep_crops if self.method == "onestep" else s.doodl_crops
        objective = Objective(self.reward, prompts, crops, self.cut_size, s.cut_power, generators)
        start = clock(latents.device)
        if self.method == "onestep":
            guided_steps = math.ceil(s.onestep_guided_fraction * len(denoiser.timesteps))
            x0 = onestep.sample(
                denoiser, objective, self.decode, latents, s.onestep_scale, s.onestep_normalise, guided_steps
            )
        else:
            settings = doodl.Settings(
                s.doodl_steps,
                s.doodl_lr,
                s.doodl_clip,
                s.doodl_momentum,
                s.doodl_perturbation,
                s.edict_mixing,
                s.doodl_backtrack,
            )
            x0 = doodl.optimise(denoiser, objective, self.decode, latents, settings, generators)
        with torch.no_grad():
            images = self.decode(x0)
        self.cost.seconds += clock(latents.device) - start
        self.cost.images += len(prompts)
        self.cost.unet_evals += denoiser.forward_rows
        self.cost.unet_backwards += denoiser.backward_rows
        return images

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return decode(self.pipe, latents)

    def __call__(self, prompt, num_inference_steps, guidance_scale, eta, output_type="pil", generator=None):
        if eta != 0:
            raise ValueError(f"Guided sampling is deterministic DDIM (eta 0); evaluation.eta is {eta}.")
        if output_type != "pil" or not isinstance(generator, list):
            raise ValueError("A guided pipeline makes PIL images, one generator per image.")
        images = self.images(prompt, num_inference_steps, guidance_scale, generator)
        pixels = (images.permute(0, 2, 3, 1).float().cpu().numpy() * 255).round().astype(np.uint8)
        return SimpleNamespace(images=[Image.fromarray(p) for p in pixels])
