"""The latent search of one label set's CAN, run for every query and saved with its provenance.

For each query: the gradient search from the K fixed starts and NSGA-II's front; once for all
queries: random z ~ N(0, I) (not projected: the generator's own distribution), scored for every
query, the reference a search must beat. The file (``search_files.search_results_file``) is reused while
its provenance (the profile, the CAN it searched, the CLIP model, the queries and the search
settings) holds, and made again otherwise.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import pandas as pd
import torch

from clipcreate_lib import artifacts
from clipcreate_lib.config import SearchConfig
from clipcreate_lib.paths import search_files
from clipcreate_lib.search import evolution, gradient
from clipcreate_lib.search.latent import LatentSpace

SETTINGS = ("starts", "steps", "lr", "realness_weight", "population", "generations", "random_samples", "seed")


def made_from(cfg: SearchConfig, queries: list[str], profile: str, published: dict, clip_name: str) -> dict:
    """What one label set's search results depend on."""
    return {
        "profile": profile,
        "can": published,
        "clip": clip_name,
        "queries": queries,
        "search": {k: v for k, v in asdict(cfg).items() if k in SETTINGS},
    }


def random_z(cfg: SearchConfig, z_dim: int) -> torch.Tensor:
    """The reference z ~ N(0, I), from a seed of their own (the starts use ``cfg.seed``)."""
    return torch.randn(cfg.random_samples, z_dim, generator=torch.Generator().manual_seed(cfg.seed + 1))


def run(space: LatentSpace, cfg: SearchConfig, queries: list[str], name: str) -> dict:
    """Every query's gradient search and NSGA-II front, and the random z; plain tensors in a dict."""
    z = random_z(cfg, space.z_dim)
    clip, real = space.score_all(z, cfg.batch_size)
    out = {"queries": queries, "random": {"z": z, "clip": clip, "real": real.sigmoid()}, "gradient": [], "front": []}
    z0 = gradient.starts(cfg.starts, space.z_dim, cfg.seed)
    for q, query in enumerate(queries):
        label = f"{name}: {query!r}"
        found = gradient.search(space, z0, q, cfg.steps, cfg.lr, cfg.realness_weight, cfg.batch_size, f"Adam {label}")
        out["gradient"].append(asdict(found))
        front = evolution.search(
            space, q, cfg.population, cfg.generations, cfg.batch_size, cfg.seed, f"NSGA-II {label}"
        )
        out["front"].append(asdict(front))
    return out


def load_or_run(
    space: LatentSpace, cfg: SearchConfig, queries: list[str], name: str, record: dict
) -> tuple[dict, bool]:
    """The saved search of label set ``name`` when ``record`` is its provenance, else a new one
    (saved); and whether it was reused."""
    path = search_files.search_results_file(name)

    def rebuild() -> dict:
        found = run(space, cfg, queries, name)
        artifacts.atomic_write(path, lambda f: torch.save(found, f))
        return found

    return artifacts.reuse_or_rebuild(path, record, rebuild, lambda: torch.load(path, weights_only=True))


def _mean_se(values: torch.Tensor) -> tuple[float, float]:
    v = values.double()
    return float(v.mean()), float(v.std() / math.sqrt(len(v))) if len(v) > 1 else math.nan


def summary(found: dict[str, dict]) -> pd.DataFrame:
    """Per label set, query and method (random z, the starts, the gradient search, the NSGA-II front):
    n and the mean and standard error of the CLIP cosine and of realness."""
    rows = []
    for name, result in found.items():
        for q, query in enumerate(result["queries"]):
            g, f = result["gradient"][q], result["front"][q]
            sets = {
                "random z": (result["random"]["clip"][:, q], result["random"]["real"]),
                "starts": (g["clip0"], g["real0"]),
                "gradient": (g["clip"], g["real"]),
                "NSGA-II front": (f["clip"], f["real"]),
            }
            for method, (clip, real) in sets.items():
                clip_mean, clip_se = _mean_se(clip)
                real_mean, real_se = _mean_se(real)
                rows.append(
                    {
                        "label_set": name,
                        "query": query,
                        "method": method,
                        "n": len(clip),
                        "clip_mean": clip_mean,
                        "clip_se": clip_se,
                        "real_mean": real_mean,
                        "real_se": real_se,
                    }
                )
    return pd.DataFrame(rows)


def gain_over_random(found: dict[str, dict]) -> pd.DataFrame:
    """How far the gradient search's CLIP cosine lies above random z's, per label set and query: the
    difference of means, its standard error sqrt(s_g^2 / K + s_r^2 / N), and their ratio."""
    rows = []
    for name, result in found.items():
        for q, query in enumerate(result["queries"]):
            searched = result["gradient"][q]["clip"].double().numpy()
            rand = result["random"]["clip"][:, q].double().numpy()
            diff = searched.mean() - rand.mean()
            se = np.sqrt(searched.var(ddof=1) / len(searched) + rand.var(ddof=1) / len(rand))
            rows.append(dict(label_set=name, query=query, gain=diff, se=se, standard_errors=diff / se))
    return pd.DataFrame(rows)
