"""DOODL (Wallace et al. 2023): optimise the initial noise x_T by the gradient of the reward of the final
image, back-propagated through the whole EDICT chain (``edict.chain_gradient``).

The update is salesforce/DOODL's: the step lr * grad is clipped element-wise, accumulated with momentum
(no dampening), a small Gaussian perturbation is added, and the result is renormalised to the norm of
the original draw, which keeps x_T on the Gaussian shell where the model was trained. The pair is tied
(x_T = y_T = z), so the gradient is taken with respect to z itself and the pair's average is z. The
reward of a pair is the mean of its two images' rewards (the reference sums the two losses and halves
the step: its grad_scale rho is lr = rho / 2 here). The final image is that of the optimised z.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from clipcreate_lib.guidance import edict
from clipcreate_lib.guidance.denoiser import Denoiser

Objective = Callable[[torch.Tensor], torch.Tensor]
Decode = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Settings:
    steps: int  # optimisation steps
    lr: float
    clip: float  # element-wise bound of each step
    momentum: float
    perturbation: float  # std of the noise added at each step
    mixing: float  # EDICT's p


def update(
    z: torch.Tensor, grad: torch.Tensor, velocity: torch.Tensor, norm: torch.Tensor, s: Settings, noise: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One ascent step on z (B, ...): returns (new z with each row's norm ``norm``, new velocity)."""
    velocity = s.momentum * velocity + (s.lr * grad).clamp(-s.clip, s.clip)
    moved = z + velocity + s.perturbation * noise
    scale = norm / moved.flatten(1).norm(dim=1)
    return moved * scale.view(-1, *([1] * (z.ndim - 1))), velocity


def optimise(
    denoiser: Denoiser,
    objective: Objective,
    decode: Decode,
    z: torch.Tensor,
    s: Settings,
    generators: Sequence[torch.Generator],
) -> torch.Tensor:
    """The final x_0 of EDICT from x_T = z after ``s.steps`` DOODL steps; each image's perturbations come
    from its own generator."""

    def pair_reward(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 0.5 * (objective(decode(x)) + objective(decode(y)))

    norm = z.flatten(1).norm(dim=1)
    velocity = torch.zeros_like(z)
    for _ in range(s.steps):
        _, grad, _ = edict.chain_gradient(denoiser, z, pair_reward, s.mixing)
        noise = torch.cat([torch.randn((1, *z.shape[1:]), generator=g, device=g.device) for g in generators])
        z, velocity = update(z, grad, velocity, norm, s, noise.to(z))
    return edict.chain(denoiser, z, z, s.mixing)[0]
