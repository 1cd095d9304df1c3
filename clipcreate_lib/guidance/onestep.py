"""One-step classifier guidance (Dhariwal & Nichol's scheme in DDIM form, as diffusers' community
``clip_guided_stable_diffusion`` pipeline does it, with the style-ambiguity reward for its CLIP loss).

At each DDIM step the UNet's estimate of x_0 from the current x_t is decoded and scored, and the
reward's gradient with respect to x_t (through the UNet, the decoder and CLIP) shifts the noise
estimate: epsilon <- epsilon - s * sqrt(1 - alpha_bar_t) * g. The reference uses the raw gradient,
g = grad R; with ``normalise`` it is rescaled per image to the root-mean-square of a standard normal
draw, g = grad R / rms(grad R), so s is a fraction of the noise estimate's own size whatever the
reward's scale (FreeDoM's step-size rule, in spirit: the raw gradient's size varies by orders of
magnitude between images and steps, so no single raw scale both moves the quiet images and spares the
loud ones). ``guided_steps`` guides the first steps only, where
the layout is decided; the late ones then denoise what guidance made. The x_0 estimate is a one-step
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


def unit_rms(grad: torch.Tensor, floor: float = 1e-12) -> torch.Tensor:
    """Each image's gradient (B, ...) divided by its root-mean-square element: every row then has the
    norm sqrt(numel) of a standard normal draw. A zero row stays zero."""
    rms = grad.flatten(1).pow(2).mean(dim=1).sqrt().clamp_min(floor)
    return grad / rms.view(-1, *([1] * (grad.ndim - 1)))


@torch.no_grad()
def sample(
    denoiser: Denoiser,
    objective: Objective,
    decode: Decode,
    latents: torch.Tensor,
    scale: float,
    normalise: bool = False,
    guided_steps: int | None = None,
) -> torch.Tensor:
    """x_0 of the guided DDIM chain (eta = 0) from x_T = ``latents``, the first ``guided_steps`` steps
    guided (all when None); at ``scale`` 0 it is plain DDIM (no gradient is computed), the evaluation's
    sampler."""
    x = latents
    for k, t in enumerate(denoiser.timesteps):
        a_t, a_prev = denoiser.alphas(t, x)
        if scale == 0 or (guided_steps is not None and k >= guided_steps):
            eps, x0 = denoiser.noise(x, t)
        else:
            eps, _, grad = reward_gradient(denoiser, objective, decode, x, t)
            eps = eps - scale * (1 - a_t).sqrt() * (unit_rms(grad) if normalise else grad)
            x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        x = ddim_update(x0, eps, a_prev)
    return x
