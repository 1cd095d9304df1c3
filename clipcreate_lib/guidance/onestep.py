"""One-step classifier guidance (Dhariwal & Nichol's scheme in DDIM form, as diffusers' community
``clip_guided_stable_diffusion`` pipeline does it, with the style-ambiguity reward for its CLIP loss).

At each DDIM step the UNet's estimate of x_0 from the current x_t is decoded and scored, and the
reward's gradient with respect to x_t (through the UNet, the decoder and CLIP) shifts the noise
estimate: epsilon <- epsilon - s * sqrt(1 - alpha_bar_t) * grad R. The x_0 estimate is a one-step
approximation of the final image: the DOODL paper's point is that its gradient can point elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from clipcreate_lib.guidance.denoiser import Denoiser, ddim_update

Objective = Callable[[torch.Tensor], torch.Tensor]
Decode = Callable[[torch.Tensor], torch.Tensor]


def reward_gradient(
    denoiser: Denoiser, objective: Objective, decode: Decode, x: torch.Tensor, t
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(epsilon, x_0 estimate, d sum_i R(decode(x0_hat(x_t))_i) / d x_t) at x_t: the reward of the
    one-step estimate and its gradient, which for image i depends on image i alone."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        eps, x0 = denoiser.noise(x, t)
        (grad,) = torch.autograd.grad(objective(decode(x0)).sum(), x)
    return eps.detach(), x0.detach(), grad


@torch.no_grad()
def sample(
    denoiser: Denoiser, objective: Objective, decode: Decode, latents: torch.Tensor, scale: float
) -> torch.Tensor:
    """x_0 of the guided DDIM chain (eta = 0) from x_T = ``latents``; at ``scale`` 0 it is plain DDIM
    (no gradient is computed), the evaluation's sampler."""
    x = latents
    for t in denoiser.timesteps:
        a_t, a_prev = denoiser.alphas(t, x)
        if scale == 0:
            eps, x0 = denoiser.noise(x, t)
        else:
            eps, _, grad = reward_gradient(denoiser, objective, decode, x, t)
            eps = eps - scale * (1 - a_t).sqrt() * grad
            x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        x = ddim_update(x0, eps, a_prev)
    return x
