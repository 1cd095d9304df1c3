"""The DDIM sampling chain as DDPO's policy (Black et al. 2023): each step x_t -> x_{t-1} is a Gaussian
action whose log-probability the policy gradient needs.

A step's log-prob is the Gaussian log-density of x_{t-1} given x_t, *averaged* over latent
dimensions as DDPO does; that is why a clip range as small as 1e-4 works. ``sample`` draws a batch
of chains and records every latent and log-prob; ``rescore`` gives the log-probs of stored steps
under the current weights, which is what the PPO update compares with.
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import torch
from diffusers import DDIMScheduler, StableDiffusionPipeline

from clipcreate_lib.config import DdpoConfig
from clipcreate_lib.ddpo.noise import draw_noise
from clipcreate_lib.ddpo.precision import unet_autocast
from clipcreate_lib.models.text_encoding import encode_prompts


def ddim_step(
    scheduler: DDIMScheduler,
    noise_pred: torch.Tensor,
    timestep,
    sample: torch.Tensor,
    eta: float,
    generator: torch.Generator | None = None,
    prev_sample: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One DDIM step x_t -> x_{t-1} (DDIM paper eqs. 12 and 16) and its log-prob per image.

    ``timestep`` is an int or a tensor with one timestep per image. The step's standard normal draw
    is ``noise`` when given, else drawn from ``generator``. With ``prev_sample`` the step is not drawn
    but scored: the log-density of the given x_{t-1}, which is how training recomputes the log-prob
    of a stored trajectory under the current weights. Returns (x_{t-1}, log_prob (B,)).
    """
    if scheduler.config.thresholding:
        raise ValueError("Dynamic thresholding is not supported by the DDPO step.")
    if prev_sample is not None and generator is not None:
        raise ValueError("Give either a generator (to draw x_{t-1}) or prev_sample (to score it), not both.")
    x = sample.float()
    a_t, a_prev = _alphas(scheduler, torch.as_tensor(timestep, device=x.device).reshape(-1).expand(len(x)))
    a_t, a_prev = _per_image(a_t, x), _per_image(a_prev, x)
    x0, eps = predicted_x0_and_noise(scheduler, noise_pred.float(), x, a_t)
    std = _std(a_t, a_prev, eta)
    mean = a_prev.sqrt() * x0 + (1 - a_prev - std**2).clamp(min=0).sqrt() * eps
    if prev_sample is None:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype) if noise is None else noise
        prev_sample = mean + std * noise
    prev_sample = prev_sample.float()
    log_density = -((prev_sample.detach() - mean) ** 2) / (2 * std**2) - std.log() - 0.5 * math.log(2 * math.pi)
    return prev_sample, log_density.mean(dim=tuple(range(1, x.ndim)))


def predicted_x0_and_noise(
    scheduler: DDIMScheduler,
    prediction: torch.Tensor,
    x: torch.Tensor,
    a_t: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_0, epsilon) that the UNet's ``prediction`` at x_t stands for, alpha-bar ``a_t``: from an
    epsilon- or a v-prediction, x_0 clipped as the scheduler clips it."""
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        x0, eps = (x - (1 - a_t).sqrt() * prediction) / a_t.sqrt(), prediction
    elif kind == "v_prediction":
        x0 = a_t.sqrt() * x - (1 - a_t).sqrt() * prediction
        eps = a_t.sqrt() * prediction + (1 - a_t).sqrt() * x
    else:
        raise ValueError(f"prediction_type '{kind}' is not supported by the DDPO step.")
    if scheduler.config.clip_sample:
        x0 = x0.clamp(-scheduler.config.clip_sample_range, scheduler.config.clip_sample_range)
    return x0, eps


def ddim_std(scheduler: DDIMScheduler, timestep, eta: float) -> float:
    """sigma_t of the DDIM step from ``timestep``. It is 0 at eta = 0, and at the last step when
    alpha_prev is 1 (steps_offset = 0 with SD's betas): then the step's log-prob is undefined."""
    return float(_std(*_alphas(scheduler, torch.as_tensor(timestep).reshape(1)), eta))


def _std(a_t: torch.Tensor, a_prev: torch.Tensor, eta: float) -> torch.Tensor:
    """sigma_t = eta * sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)) (DDIM eq. 16)."""
    return eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()


def _alphas(scheduler: DDIMScheduler, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """alpha-bar at each timestep and at the step it leads to (the final alpha past the start)."""
    if scheduler.num_inference_steps is None:
        raise ValueError("Call scheduler.set_timesteps(steps) before a DDIM step.")
    t = t.long()
    prev_t = t - scheduler.config.num_train_timesteps // scheduler.num_inference_steps
    alphas, final = _alpha_table(scheduler, t.device)
    return alphas[t], torch.where(prev_t >= 0, alphas[prev_t.clamp(min=0)], final)


_ALPHA_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _alpha_table(scheduler: DDIMScheduler, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The scheduler's alpha-bars and final alpha on ``device``, copied there once rather than at every
    step: a copy from host memory to a GPU waits for all the work queued on the GPU."""
    tables = _ALPHA_TABLES.setdefault(scheduler, {})
    if device not in tables:
        alphas = scheduler.alphas_cumprod.to(device)
        tables[device] = alphas, torch.as_tensor(scheduler.final_alpha_cumprod, device=device, dtype=alphas.dtype)
    return tables[device]


def _per_image(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.to(like.dtype).view(-1, *([1] * (like.ndim - 1)))


def guided_noise(
    unet, latents: torch.Tensor, timestep, embeddings: torch.Tensor, guidance_scale: float
) -> torch.Tensor:
    """The UNet's noise prediction with classifier-free guidance; ``embeddings`` is
    cat([negative, prompt]) when guidance_scale > 1, else the prompt embeddings alone."""
    dtype = next(unet.parameters()).dtype
    embeddings = embeddings.to(dtype)  # a bf16 text encoder feeding a float32 UNet (full fine-tune, no autocast)
    t = torch.as_tensor(timestep, device=latents.device)
    if guidance_scale <= 1:
        return unet(latents.to(dtype), t, encoder_hidden_states=embeddings).sample.float()
    t = t.expand(len(latents)).repeat(2) if t.ndim else t
    both = unet(torch.cat([latents, latents]).to(dtype), t, encoder_hidden_states=embeddings).sample.float()
    uncond, cond = both.chunk(2)
    return uncond + guidance_scale * (cond - uncond)


def condition(negative: torch.Tensor, prompts: torch.Tensor, guidance_scale: float) -> torch.Tensor:
    """The encoder states ``guided_noise`` expects for a batch of prompt embeddings."""
    if guidance_scale <= 1:
        return prompts
    return torch.cat([negative.expand(len(prompts), -1, -1), prompts])


@dataclass
class Trajectory:
    """A batch of DDIM chains: ``latents[:, i]`` is the input of step i and ``latents[:, i + 1]`` its
    output; ``log_probs[:, i]`` the log-prob of that step; ``images`` the decoded x_0 in [0, 1]."""

    latents: torch.Tensor  # (B, steps + 1, C, h, w), float32
    log_probs: torch.Tensor  # (B, steps), float32
    timesteps: torch.Tensor  # (steps,)
    images: torch.Tensor  # (B, 3, H, W), float32 in [0, 1]


@torch.no_grad()
def sample(
    pipe: StableDiffusionPipeline,
    prompt_embeddings: torch.Tensor,
    negative_embedding: torch.Tensor,
    steps: int,
    guidance_scale: float,
    eta: float,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> Trajectory:
    """Sample one batch with DDIM, recording every latent and log-prob. The noise is ``noise`` when
    given, else ``draw_noise``'s from ``generator``: diffusers' order, the same either way."""
    unet, scheduler = pipe.unet, pipe.scheduler
    device = prompt_embeddings.device
    scheduler.set_timesteps(steps, device=device)
    if noise is None:
        noise = draw_noise(pipe, len(prompt_embeddings), steps, generator, device)
    latents = noise[0] * scheduler.init_noise_sigma
    embeddings = condition(negative_embedding, prompt_embeddings, guidance_scale)
    chain, log_probs = [latents], []
    for t, step_noise in zip(scheduler.timesteps, noise[1:]):
        prediction = guided_noise(unet, scheduler.scale_model_input(latents, t), t, embeddings, guidance_scale)
        latents, log_prob = ddim_step(scheduler, prediction, t, latents, eta, noise=step_noise)
        chain.append(latents)
        log_probs.append(log_prob)
    return Trajectory(
        torch.stack(chain, dim=1), torch.stack(log_probs, dim=1), scheduler.timesteps.clone(), decode(pipe, latents)
    )


def decode(pipe: StableDiffusionPipeline, latents: torch.Tensor) -> torch.Tensor:
    """VAE-decode latents to images in [0, 1] (float32)."""
    vae = pipe.vae
    images = vae.decode((latents / vae.config.scaling_factor).to(vae.dtype)).sample
    return (images.float() / 2 + 0.5).clamp(0, 1)


def step_groups(
    scheduler: DDIMScheduler, timesteps: torch.Tensor, steps: int, eta: float, per_group: int, device: torch.device
) -> list[torch.Tensor]:
    """The trajectory's step indices in groups of ``per_group`` (one UNet call each), on ``device``
    (once, not per call); a step whose DDIM variance is zero (its log-prob is undefined) is left
    out. Sets the scheduler's ``steps`` timesteps, as every rescoring needs them."""
    scheduler.set_timesteps(steps, device=device)
    usable = [j for j in range(len(timesteps)) if ddim_std(scheduler, timesteps[j], eta) > 0]
    return [torch.tensor(usable[i : i + per_group], device=device) for i in range(0, len(usable), per_group)]


def rescore(
    unet: torch.nn.Module,
    scheduler: DDIMScheduler,
    latents: torch.Tensor,
    timesteps: torch.Tensor,
    js: torch.Tensor,
    prompts: torch.Tensor,
    negative: torch.Tensor,
    guidance_scale: float,
    eta: float,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> torch.Tensor:
    """The log-probs, under the current weights, of the DDIM steps ``js`` of each trajectory in
    ``latents`` (images, steps + 1, ...), scored in one guided UNet call: its rows are (image,
    timestep) pairs, image-major. ``prompts`` holds each image's prompt embedding."""
    k = len(js)
    x = latents[:, js].flatten(0, 1)
    t = timesteps[js].repeat(len(latents))
    embeddings = condition(negative, prompts.repeat_interleave(k, 0), guidance_scale)
    with autocast():
        noise = guided_noise(unet, x, t, embeddings, guidance_scale)
    _, log_prob = ddim_step(scheduler, noise, t, x, eta, prev_sample=latents[:, js + 1].flatten(0, 1))
    return log_prob


class Policy:
    """The UNet being trained, as DDPO's policy: sampling with its prompts' text states under the
    configured guidance and eta, and rescoring stored steps with its current weights."""

    def __init__(
        self,
        pipe: StableDiffusionPipeline,
        prompts: list[str],
        steps: int,
        guidance_scale: float,
        eta: float,
        per_pass: int,
        autocast: Callable[[], contextlib.AbstractContextManager],
    ):
        if eta <= 0:
            raise ValueError(
                f"ddpo.eta must be above 0 (got {eta}): at eta 0 every DDIM step is deterministic, so no step "
                "has a log-probability for the policy gradient."
            )
        self.pipe, self.steps, self.guidance_scale, self.eta, self.per_pass = pipe, steps, guidance_scale, eta, per_pass
        self.autocast = autocast
        self.train_guidance_scale = guidance_scale  # what the update rescores with (1, none: ddpo.train_guidance off)
        self.unet = pipe.unet  # what training's forward runs through: the DDP wrapper on several processes
        self.prompt_embeddings = encode_prompts(pipe, prompts)
        self.negative_embedding = encode_prompts(pipe, [""])

    @classmethod
    def from_config(cls, pipe: StableDiffusionPipeline, cfg: DdpoConfig) -> Policy:
        """The policy ``cfg`` describes, computing in the precision it asks for on the UNet's device."""
        autocast = unet_autocast(pipe.unet.device, cfg.autocast, cfg.cpu_bf16)
        policy = cls(pipe, cfg.prompts, cfg.sample_steps, cfg.guidance_scale, cfg.eta, cfg.timesteps_per_pass, autocast)
        policy.train_guidance_scale = cfg.guidance_scale if cfg.train_guidance else 1.0
        return policy

    def sample(
        self, prompt_index: torch.Tensor, generator: torch.Generator | None, noise: torch.Tensor | None = None
    ) -> Trajectory:
        """A batch of chains, one per prompt index, with ``noise`` or noise from ``generator``."""
        device = self.prompt_embeddings.device
        with self.autocast():
            return sample(
                self.pipe,
                self.prompt_embeddings[prompt_index.to(device)],
                self.negative_embedding,
                self.steps,
                self.guidance_scale,
                self.eta,
                generator,
                noise,
            )

    def passes(self, timesteps: torch.Tensor) -> list[torch.Tensor]:
        """The trajectory's step indices in groups of ``per_pass`` (``step_groups``)."""
        return step_groups(self.pipe.scheduler, timesteps, self.steps, self.eta, self.per_pass, self.pipe.unet.device)

    def log_probs(
        self, latents: torch.Tensor, timesteps: torch.Tensor, js: torch.Tensor, prompts: torch.Tensor
    ) -> torch.Tensor:
        """The current weights' log-probs of steps ``js`` of ``latents`` in one UNet call (``rescore``)."""
        return rescore(
            self.unet,
            self.pipe.scheduler,
            latents,
            timesteps,
            js,
            prompts,
            self.negative_embedding,
            self.train_guidance_scale,
            self.eta,
            self.autocast,
        )
