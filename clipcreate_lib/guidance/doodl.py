"""DOODL (Wallace et al. 2023): optimise the initial noise x_T by the gradient of the reward of the final
image, back-propagated through the whole EDICT chain (``edict.chain_gradient``).

The update is salesforce/DOODL's: the step lr * grad is clipped element-wise, accumulated with momentum
(no dampening), a small Gaussian perturbation is added, and the result is renormalised to the norm of
the original draw, which keeps x_T on the Gaussian shell where the model was trained. The pair is tied
(x_T = y_T = z), so the gradient is taken with respect to z itself and the pair's average is z. The
reward of a pair is the mean of its two images' rewards (the reference sums the two losses and halves
the step: its grad_scale rho is lr = rho / 2 here). The final image is that of the optimised z.

With ``backtrack`` (not the reference's), an image whose reward fell at a step goes back to its best
point so far, its step is halved and its momentum dropped, and the image returned is that of its best
point. Every step still costs one gradient: the reward of a point is the forward half of its own
gradient, so backtracking adds no UNet evaluation, only the reward of the last point. It exists for
rewards so curved that a fixed step overshoots (the k-means classifiers: docs/guidance.md).
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
    backtrack: bool = False  # halve an image's step and return to its best point when its reward falls


def update(
    z: torch.Tensor,
    grad: torch.Tensor,
    velocity: torch.Tensor,
    norm: torch.Tensor,
    s: Settings,
    noise: torch.Tensor,
    scale: torch.Tensor | float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One ascent step on z (B, ...): returns (new z with each row's norm ``norm``, new velocity). Each
    row's clipped step is multiplied by its ``scale`` (B,) before it enters the momentum."""
    step = (s.lr * grad).clamp(-s.clip, s.clip) * _rows(torch.as_tensor(scale, dtype=z.dtype, device=z.device), z)
    velocity = s.momentum * velocity + step
    moved = z + velocity + s.perturbation * noise
    return moved * _rows(norm / moved.flatten(1).norm(dim=1), z), velocity


def _rows(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``values`` (B,) or a scalar, shaped to broadcast over ``like``'s rows (B, ...)."""
    return values.reshape(-1, *([1] * (like.ndim - 1)))


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
    velocity, scale = torch.zeros_like(z), torch.ones(len(z), device=z.device)
    best = None  # (z, reward, gradient, final x) of each image's best point so far, with backtrack
    for _ in range(s.steps):
        value, grad, x = edict.chain_gradient(denoiser, z, pair_reward, s.mixing)
        if s.backtrack:
            best = _keep_best(best, (z, value, grad, x))
            fell = best[1] > value
            z, grad = best[0], best[2]
            scale = torch.where(fell, scale / 2, scale)
            velocity = velocity * _rows(~fell, z)
        noise = torch.cat([torch.randn((1, *z.shape[1:]), generator=g, device=g.device) for g in generators])
        z, velocity = update(z, grad, velocity, norm, s, noise.to(z), scale)
    x, y = edict.chain(denoiser, z, z, s.mixing)
    if best is None:
        return x
    with torch.no_grad():
        value = pair_reward(x, y)
    return _keep_best(best, (z, value, None, x))[3]


def _keep_best(best, candidate):
    """Row by row, the better by reward (index 1) of ``best`` and ``candidate`` (tuples of batched
    tensors; a None entry of the candidate keeps best's); the candidate alone when best is None."""
    if best is None:
        return candidate
    better = candidate[1] >= best[1]
    return tuple(b if c is None else torch.where(_rows(better, b), c, b) for b, c in zip(best, candidate))
