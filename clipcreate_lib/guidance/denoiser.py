"""The frozen diffusion model as the guided samplers see it: a classifier-free-guided noise estimate
epsilon(x, t) for a batch of prompts, the DDIM coefficients of a step, and a count of UNet work.

The estimate is computed in the state's dtype (float64 in the inversion tests), where DDPO's
``guided_noise`` returns float32 for its log-probs; a v-predicting UNet's output (the mini profile's)
is converted to epsilon, so every sampler here is written in epsilon alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import torch
from diffusers import DDIMScheduler, StableDiffusionPipeline

from clipcreate_lib.ddpo.policy import condition, predicted_x0_and_noise
from clipcreate_lib.models.text_encoding import encode_prompts


class Denoiser:
    """epsilon and x_0 estimates of the pipeline's UNet for ``prompts`` (one per image) under
    classifier-free guidance ``guidance_scale``, on the scheduler's ``steps`` DDIM timesteps.
    ``forward_rows`` and ``backward_rows`` count UNet evaluations (each guided half a row) so far."""

    def __init__(
        self,
        pipe: StableDiffusionPipeline,
        prompts: Sequence[str],
        guidance_scale: float,
        steps: int,
        autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    ):
        if not isinstance(pipe.scheduler, DDIMScheduler):
            raise TypeError(f"Guided sampling uses DDIM, but the pipeline has {type(pipe.scheduler).__name__}.")
        self.pipe, self.scheduler, self.guidance_scale, self.autocast = pipe, pipe.scheduler, guidance_scale, autocast
        self.scheduler.set_timesteps(steps, device=pipe.unet.device)
        self.timesteps = self.scheduler.timesteps
        self.embeddings = condition(encode_prompts(pipe, [""]), encode_prompts(pipe, prompts), guidance_scale)
        self.forward_rows = self.backward_rows = 0

    def alphas(self, t, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """alpha-bar at timestep ``t`` and at the timestep the DDIM step leads to, in ``like``'s dtype."""
        s = self.scheduler
        prev = int(t) - s.config.num_train_timesteps // s.num_inference_steps
        a_prev = s.alphas_cumprod[prev] if prev >= 0 else s.final_alpha_cumprod
        return (torch.as_tensor(v, dtype=like.dtype, device=like.device) for v in (s.alphas_cumprod[int(t)], a_prev))

    def noise(self, x: torch.Tensor, t) -> tuple[torch.Tensor, torch.Tensor]:
        """(epsilon, x_0) that the guided UNet estimates at x_t, in x's dtype; differentiable in x."""
        unet = self.pipe.unet
        rows = torch.cat([x, x]) if self.guidance_scale > 1 else x
        rows = self.scheduler.scale_model_input(rows, t).to(unet.dtype)
        with self.autocast():
            out = unet(rows, t, encoder_hidden_states=self.embeddings.to(unet.dtype)).sample.to(x.dtype)
        self.forward_rows += len(rows)
        if x.requires_grad:
            self.backward_rows += len(rows)  # a guided sampler differentiates every call it makes with grad
        if self.guidance_scale > 1:
            uncond, cond = out.chunk(2)
            out = uncond + self.guidance_scale * (cond - uncond)
        a_t, _ = self.alphas(t, x)
        x0, eps = predicted_x0_and_noise(self.scheduler, out, x, a_t)
        return eps, x0


def ddim_update(x0: torch.Tensor, eps: torch.Tensor, a_prev: torch.Tensor) -> torch.Tensor:
    """The deterministic DDIM step (eta = 0): x_{t-1} = sqrt(a_prev) x_0 + sqrt(1 - a_prev) epsilon."""
    return a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps


def initial_latents(pipe: StableDiffusionPipeline, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """x_T of each image from its own generator, as diffusers draws them for a list of generators (so a
    guided image starts from the noise the evaluation's image with that seed started from): drawn in the
    text encoder's dtype as the pipeline draws them, held in float32."""
    unet, dtype = pipe.unet, pipe.text_encoder.dtype
    shape = (1, unet.config.in_channels, unet.config.sample_size, unet.config.sample_size)
    noise = torch.cat([torch.randn(shape, generator=g, device=g.device, dtype=dtype) for g in generators])
    return noise.to(unet.device, torch.float32) * pipe.scheduler.init_noise_sigma
