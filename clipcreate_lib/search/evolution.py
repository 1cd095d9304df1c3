"""Evolutionary two-objective search with pymoo's NSGA-II, as CLIP-GLaSS searched its GANs.

NSGA-II minimises F = (-cos(query, G(z)), softplus(-D_real(G(z)))). The decision variables live in
the box [-sqrt(z_dim), sqrt(z_dim)]^z_dim, which holds the whole shell; a repair operator projects
every new individual (the seeded initial population included) onto the shell, so every z the
algorithm evaluates is on it. pymoo is seeded through ``minimize(seed=...)``. Its result is the
final population's non-dominated front.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.config import Config as PymooConfig
from pymoo.core.callback import Callback
from pymoo.core.problem import Problem
from pymoo.core.repair import Repair
from pymoo.optimize import minimize

from clipcreate_lib.progress import bar
from clipcreate_lib.search.latent import LatentSpace, realness_loss, to_shell

PymooConfig.warnings["not_compiled"] = False  # its pure-Python sorting is fast enough for these fronts


@dataclass
class FrontResult:
    """NSGA-II's non-dominated front and its final population, with both objectives per z."""

    z: torch.Tensor  # (F, z_dim) the front, on the shell
    clip: torch.Tensor  # (F,) cosine with the query
    real: torch.Tensor  # (F,) realness: the discriminator's probability that G(z) is real
    population_clip: torch.Tensor  # (P,) the final population's cosines
    population_real: torch.Tensor  # (P,) and realness


class _ShellRepair(Repair):
    def _do(self, problem, X, **kwargs):
        return to_shell(torch.from_numpy(np.asarray(X, dtype=np.float64))).numpy()


class _LatentProblem(Problem):
    """Both objectives of one query, minimised, for a batch of z at a time."""

    def __init__(self, space: LatentSpace, query: int, batch_size: int):
        bound = math.sqrt(space.z_dim)
        super().__init__(n_var=space.z_dim, n_obj=2, xl=-bound, xu=bound)
        self.space, self.query, self.batch_size = space, query, batch_size

    def _evaluate(self, X, out, *args, **kwargs):
        cosines, real = self.space.score_all(torch.from_numpy(np.asarray(X, dtype=np.float32)), self.batch_size)
        out["F"] = np.column_stack([-cosines[:, self.query].numpy(), realness_loss(real).numpy()]).astype(np.float64)


class _Progress(Callback):
    def __init__(self, progress):
        super().__init__()
        self.progress = progress

    def notify(self, algorithm):
        self.progress.update(1)


def search(
    space: LatentSpace, query: int, population: int, generations: int, batch_size: int, seed: int, desc: str = "NSGA-II"
) -> FrontResult:
    """NSGA-II for query index ``query`` from a seeded population on the shell."""
    first = to_shell(torch.randn(population, space.z_dim, generator=torch.Generator().manual_seed(seed)))
    algorithm = NSGA2(pop_size=population, sampling=first.double().numpy(), repair=_ShellRepair())
    problem = _LatentProblem(space, query, batch_size)
    with bar(total=generations, desc=desc, unit="gen", leave=False) as progress:
        res = minimize(problem, algorithm, ("n_gen", generations), seed=seed, callback=_Progress(progress))
    front_f = np.atleast_2d(res.F)
    population_f = res.pop.get("F")
    return FrontResult(
        torch.from_numpy(np.atleast_2d(res.X)).float(),
        torch.from_numpy(-front_f[:, 0]).float(),
        torch.from_numpy(np.exp(-front_f[:, 1])).float(),  # exp(-softplus(-logit)) = sigmoid(logit)
        torch.from_numpy(-population_f[:, 0]).float(),
        torch.from_numpy(np.exp(-population_f[:, 1])).float(),
    )
