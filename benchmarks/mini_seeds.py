"""The mini profile's reward rise from run to run: notebook 04's models retrained with other DDPO seeds.

Notebook 04 reports each model's rise along training (the ambiguity's mean over the last quarter of the
epochs minus the first) with a Welch interval over epochs: the noise within one run. This retrains the
named models with other seeds (sampling noise, prompt order, shuffling) on the same miniature and
classifiers, and prints every run's rise and, over the runs, the mean rise with a Student t interval:
the noise between runs. Notebook 04's own run counts as the seed of its parameters when it has finished.

Needs the mini profile's notebooks 01 to 03 in the work folder. The runs go to
<work folder>/data/ddpo_seeds/<model>-seed<k>/, two at a time in worker processes with one torch thread
each, and resume where they stopped when interrupted:

    CLIPCREATE_WORKDIR=<work folder> .venv/bin/python benchmarks/mini_seeds.py [--seeds 1 2] [--models ...]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed

import pandas as pd
import torch

from clipcreate_lib import artifacts, config, paths, session, stats
from clipcreate_lib.ddpo import runs, weights
from clipcreate_lib.ddpo.records import METRICS
from clipcreate_lib.ddpo.trainer import run_settings
from clipcreate_lib.styles import classifiers

TEXT_AND_KMEANS = ["clip-full", "kmeans-full", "clip-med", "kmeans-med"]


def run_dir(name: str, seed: int):
    return paths.data_dir() / "ddpo_seeds" / f"{name}-seed{seed}"


def train_seed(raw: dict, name: str, seed: int) -> pd.DataFrame:
    cfg = config.from_dict(raw)
    cfg.ddpo.seed = seed
    return runs.train(cfg, name, progress=False, out_dir=run_dir(name, seed))


def finished_notebook_run(cfg: config.Config, name: str) -> pd.DataFrame | None:
    """Notebook 04's metrics for ``name`` when that run has all its epochs and these settings, else None."""
    folder = paths.ddpo_dir(name)
    if not (folder / weights.TRAINED).exists():
        return None
    trained = json.loads((folder / weights.TRAINED).read_text())
    expected = {
        "ddpo": run_settings(cfg.ddpo),
        "reward": runs.reward_settings(cfg, classifiers.split_model_name(name)[0]),
    }
    changed = artifacts.changed_keys({k: trained.get(k) for k in expected}, expected)
    if changed or trained["epochs"] != cfg.ddpo.epochs:
        print(
            f"notebook 04's {name} is left out: it has {trained['epochs']} epochs"
            + (f" and other settings ({', '.join(changed)})" if changed else "")
        )
        return None
    return pd.read_csv(folder / METRICS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=TEXT_AND_KMEANS, choices=config.MODEL_NAMES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2], help="DDPO seeds to train")
    parser.add_argument("--processes", type=int, default=2, help="runs at once, one torch thread each")
    parser.add_argument("--confidence", type=float, default=0.95)
    args = parser.parse_args()
    cfg = session.start("mini")  # the mini profile's folders, data/mini/ under the work folder
    jobs = [(name, seed) for name in args.models for seed in args.seeds if seed != cfg.ddpo.seed]
    print(f"training {len(jobs)} runs of {cfg.ddpo.epochs} epochs, {args.processes} at a time")
    with ProcessPoolExecutor(
        args.processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=torch.set_num_threads,
        initargs=(1,),
    ) as pool:
        futures = {pool.submit(train_seed, config.to_dict(cfg), *job): job for job in jobs}
        metrics = {}
        for done, future in enumerate(as_completed(futures), 1):
            metrics[futures[future]] = future.result()
            print(f"  {done}/{len(jobs)}: {futures[future][0]} seed {futures[future][1]} trained", flush=True)
    for name in args.models:
        notebook_run = finished_notebook_run(cfg, name)
        if notebook_run is not None:
            metrics[(name, cfg.ddpo.seed)] = notebook_run
    window = runs.rise_window(cfg.ddpo.epochs)
    rows = pd.DataFrame(
        [
            {"model": name, "seed": seed, **runs.reward_rise(m["ambiguity_mean"], window)}
            for (name, seed), m in sorted(metrics.items())
        ]
    )
    print(
        f"\nambiguity: mean of the last {window} epochs minus the first {window}; "
        f"[low, high]: {args.confidence:.0%} Welch interval over the epochs of one run"
    )
    print(rows.round(3).to_string(index=False))
    print(f"\nover runs: mean rise and its {args.confidence:.0%} Student t interval (the noise between runs)")
    for name, model_runs in rows.groupby("model", sort=False):
        half = stats.t_half_width(model_runs["rise"], args.confidence)
        mean = model_runs["rise"].mean()
        print(
            f"  {name:12s} {len(model_runs)} runs  rise {mean:7.3f}  [{mean - half:7.3f}, {mean + half:7.3f}]  "
            f"runs above 0: {(model_runs['rise'] > 0).sum()}/{len(model_runs)}"
        )


if __name__ == "__main__":
    main()
