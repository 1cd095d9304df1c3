"""EDICT (Wallace, Gokul and Naik 2022): the DDIM chain as an exactly invertible coupled sampler, and
the gradient of a loss on its final images with respect to its initial noise in memory that does not
grow with the number of steps (DOODL, the same authors, 2023).

With DDIM's x_{t-1} = a_t x_t + b_t epsilon(x_t, t), a pair (x, y) starting at x_T = y_T steps as

    x' = a x + b epsilon(y),   y' = a y + b epsilon(x'),   x'' = p x' + (1 - p) y',   y'' = p y' + (1 - p) x''

and each line can be solved for its input in closed form, so every state of the chain can be rebuilt
from the last one. The backward pass walks the chain from the end: it rebuilds step k's input from its
output, recomputes that one step with the graph kept, and pulls the gradient through it, so it holds
the graph of one step at a time instead of all of them (salesforce/DOODL does this with memcnn; it is
a dozen lines here, without that dependency). The pair is updated in a fixed order (x first), as the
EDICT paper writes it; its code alternates the order by step.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from clipcreate_lib.guidance.denoiser import Denoiser

PairLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def coefficients(denoiser: Denoiser, t, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """DDIM's (a_t, b_t): a = sqrt(ab_prev / ab_t), b = sqrt(1 - ab_prev) - sqrt(ab_prev (1 - ab_t) / ab_t)."""
    a_t, a_prev = denoiser.alphas(t, like)
    return (a_prev / a_t).sqrt(), (1 - a_prev).sqrt() - (a_prev * (1 - a_t) / a_t).sqrt()


def step(denoiser: Denoiser, x: torch.Tensor, y: torch.Tensor, t, p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One EDICT step of the pair from timestep ``t`` (two guided UNet calls)."""
    a, b = coefficients(denoiser, t, x)
    x_inter = a * x + b * denoiser.noise(y, t)[0]
    y_inter = a * y + b * denoiser.noise(x_inter, t)[0]
    x_next = p * x_inter + (1 - p) * y_inter
    return x_next, p * y_inter + (1 - p) * x_next


def inverse_step(
    denoiser: Denoiser, x_next: torch.Tensor, y_next: torch.Tensor, t, p: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The pair ``step`` was given, from what it returned: each of its lines solved backwards."""
    a, b = coefficients(denoiser, t, x_next)
    y_inter = (y_next - (1 - p) * x_next) / p
    x_inter = (x_next - (1 - p) * y_inter) / p
    y = (y_inter - b * denoiser.noise(x_inter, t)[0]) / a
    return (x_inter - b * denoiser.noise(y, t)[0]) / a, y


@torch.no_grad()
def chain(denoiser: Denoiser, x: torch.Tensor, y: torch.Tensor, p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The pair after every step of the denoiser's timesteps, from (x_T, y_T)."""
    for t in denoiser.timesteps:
        x, y = step(denoiser, x, y, t, p)
    return x, y


@torch.no_grad()
def invert(denoiser: Denoiser, x: torch.Tensor, y: torch.Tensor, p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_T, y_T) rebuilt from the chain's final pair."""
    for t in reversed(denoiser.timesteps):
        x, y = inverse_step(denoiser, x, y, t, p)
    return x, y


def chain_gradient(
    denoiser: Denoiser, z: torch.Tensor, loss: PairLoss, p: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss per image (B,), d sum(loss) / d z, final x) for the chain started at x_T = y_T = z, in
    memory that does not grow with the number of steps: the states are rebuilt, not stored."""
    x, y = chain(denoiser, z, z, p)
    with torch.enable_grad():
        xs, ys = x.detach().requires_grad_(True), y.detach().requires_grad_(True)
        value = loss(xs, ys)
        grad_x, grad_y = torch.autograd.grad(value.sum(), (xs, ys))
    for t in reversed(denoiser.timesteps):
        with torch.no_grad():
            x, y = inverse_step(denoiser, x, y, t, p)
        with torch.enable_grad():
            x_in, y_in = x.requires_grad_(True), y.requires_grad_(True)
            grad_x, grad_y = torch.autograd.grad(step(denoiser, x_in, y_in, t, p), (x_in, y_in), (grad_x, grad_y))
        x, y = x.detach(), y.detach()
    return value.detach(), grad_x + grad_y, xs.detach()
