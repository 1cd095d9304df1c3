"""Gradient search: Adam on z, from fixed random starts, kept on the shell |z| = sqrt(z_dim).

The loss of one query q is -cos(q, G(z)) + w * softplus(-D_real(G(z))): CLIP's objective plus the
realness one weighted by ``realness_weight`` (w = 0: CLIP alone). After every Adam step z is
projected back onto the shell (projected gradient ascent on the sphere). The starts are searched
in chunks of ``batch_size``; both networks are in eval mode and Adam is per coordinate, so a chunk's
starts do not interact and the result does not depend on the chunking.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from clipcreate_lib.progress import bar
from clipcreate_lib.search.latent import LatentSpace, realness_loss, to_shell


@dataclass
class GradientResult:
    """Per start: its z and scores before (``*0``) and after the search; ``clip`` is the query's cosine."""

    z0: torch.Tensor  # (K, z_dim), on the shell
    z: torch.Tensor  # (K, z_dim), on the shell
    clip0: torch.Tensor  # (K,)
    clip: torch.Tensor  # (K,)
    real0: torch.Tensor  # (K,) realness: the discriminator's probability that G(z) is real
    real: torch.Tensor  # (K,)


def starts(n: int, z_dim: int, seed: int) -> torch.Tensor:
    """``n`` starts z ~ N(0, I) drawn with ``seed``, each projected onto the shell."""
    return to_shell(torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed)))


def _descend(
    space: LatentSpace, z0: torch.Tensor, query: int, steps: int, lr: float, weight: float, tick
) -> torch.Tensor:
    """``steps`` projected Adam steps from ``z0`` on one query's loss; the final z."""
    device = next(space.generator.parameters()).device
    z = z0.clone().to(device).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        _, cosines, real = space.score(z)
        loss = (-cosines[:, query] + weight * realness_loss(real)).sum()  # a sum: each start its own gradient
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            z.copy_(to_shell(z))
        tick()
    return z.detach().cpu()


def search(
    space: LatentSpace,
    z0: torch.Tensor,
    query: int,
    steps: int,
    lr: float,
    realness_weight: float,
    batch_size: int,
    desc: str = "gradient search",
) -> GradientResult:
    """Search from every start of ``z0`` for query index ``query`` of ``space.texts``."""
    chunks = [z0[s : s + batch_size] for s in range(0, len(z0), batch_size)]
    with bar(total=steps * len(chunks), desc=desc, unit="step", leave=False) as progress:
        z = torch.cat([_descend(space, c, query, steps, lr, realness_weight, progress.update) for c in chunks])
    clip0, real0 = space.score_all(z0, batch_size)
    clip, real = space.score_all(z, batch_size)
    return GradientResult(z0, z, clip0[:, query], clip[:, query], real0.sigmoid(), real.sigmoid())
