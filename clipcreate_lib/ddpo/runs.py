"""Notebook 04's runs: one DDPO model per classifier, trained in this process or side by side.

On a small CPU one torch thread per process is faster than two threads in one process (docs/design.md), so
``ddpo.processes`` > 1 trains that many models at once, each in a spawned worker with one thread that
loads its own models. Every run writes only into its own ``data/ddpo/<model>/``, so the runs share
nothing but read-only inputs, and a run is the same whichever process trains it. On a machine with
GPUs worker i gets the i-th visible GPU as its only one (``CUDA_VISIBLE_DEVICES``), so N models train
on N GPUs at once; with more workers than GPUs they take turns round the GPUs.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from clipcreate_lib import artifacts, config, paths, session
from clipcreate_lib.config import Config
from clipcreate_lib.ddpo.draft import DraftTrainer
from clipcreate_lib.ddpo.processes import Processes
from clipcreate_lib.ddpo.trainer import Trainer
from clipcreate_lib.models import loaders
from clipcreate_lib.stats import seed_interval, welch_half_width
from clipcreate_lib.styles import classifiers, rewards


def train(
    cfg: Config,
    name: str,
    clip=None,
    processor=None,
    image_reward=None,
    progress: bool = True,
    out_dir: Path | None = None,
    draft: bool = False,
) -> pd.DataFrame:
    """Train (or resume, or reuse) the DDPO model ``name`` into ``out_dir`` (default: its
    ``paths.ddpo_dir``); returns its metrics per epoch. CLIP and the ImageReward scorer are loaded
    when not given. Under ``accelerate launch`` every process trains its share of each epoch. With
    ``draft`` the same model is trained by DRaFT (``cfg.draft``; default folder ``paths.draft_dir``)."""
    Processes(loaders.resolve_device(cfg.models))  # first: under a launcher, each process's GPU becomes its own
    if clip is None:
        clip, processor = loaders.load_clip(cfg)
    if image_reward is None and cfg.reward.image_reward_weight != 0:
        image_reward = loaders.load_image_reward(cfg)  # only when asked: the reference code always added it
    kind, dataset = classifiers.split_model_name(name)
    classifier = classifiers.load(kind, dataset, cfg, clip)
    reward_fn = (rewards.differentiable_reward_fn if draft else rewards.reward_fn)(
        classifier, clip, processor, cfg.reward, image_reward
    )
    run = {
        "model": name,
        "profile": cfg.profile,
        "reward": reward_settings(cfg, kind),
        "stable_diffusion": loaders.model_name(cfg.models, "stable_diffusion"),
        "clip": loaders.model_name(cfg.models, "clip"),
        "classifier": artifacts.read_made_from(classifiers.source_file(kind, dataset)),
    }
    pipe = loaders.load_stable_diffusion(cfg)
    if draft:
        trainer = DraftTrainer(pipe, reward_fn, cfg.ddpo, cfg.draft, out_dir or paths.draft_dir(name), run, progress)
    else:
        trainer = Trainer(pipe, reward_fn, cfg.ddpo, out_dir or paths.ddpo_dir(name), run, progress=progress)
    return trainer.train()


def reward_settings(cfg: Config, kind: str) -> dict:
    """The reward settings a model of classifier ``kind`` is trained with, as its run records them: the
    k-means temperature only for k-means models, so changing it does not void the other models' runs."""
    settings = config.to_dict(cfg.reward)
    if kind != "kmeans":
        del settings["kmeans_temperature"]
    return settings


def train_all(
    cfg: Config,
    names: Sequence[str],
    clip=None,
    processor=None,
    seed: int | None = None,
    draft: bool = False,
) -> dict[str, pd.DataFrame]:
    """Metrics of every model in ``names``: in turn here, or ``cfg.ddpo.processes`` at a time in
    workers; trained by DRaFT with ``draft`` (into ``paths.draft_dir``). ``seed``: DDPO with that seed
    instead of ``ddpo.seed``, into ``paths.ddpo_seed_dir``."""
    if seed is not None and seed != cfg.ddpo.seed:
        if draft:
            raise ValueError("Runs of other seeds are DDPO's; DRaFT trains with ddpo.seed alone.")
        cfg = dataclasses.replace(cfg, ddpo=dataclasses.replace(cfg.ddpo, seed=seed))
        out_dirs = {name: paths.ddpo_seed_dir(name, seed) for name in names}
    else:
        out_dirs = {name: (paths.draft_dir if draft else paths.ddpo_dir)(name) for name in names}
    workers = min(cfg.ddpo.processes, len(names))
    if workers <= 1:
        if clip is None:
            clip, processor = loaders.load_clip(cfg)
        # loaded once for all models, and only when asked: the reference code always added it
        image_reward = loaders.load_image_reward(cfg) if cfg.reward.image_reward_weight != 0 else None
        return {
            name: train(cfg, name, clip, processor, image_reward, out_dir=out_dirs[name], draft=draft) for name in names
        }
    devices = worker_devices(workers, visible_gpus())
    print(
        f"training {len(names)} models, {workers} at a time in worker processes (one torch thread each"
        + (f"; GPUs {', '.join(devices)}" if devices[0] is not None else "")
        + "); their progress bars go to the kernel's log"
    )
    with worker_pool(workers, cfg.models.deterministic) as pool:
        raw = config.to_dict(cfg)
        runs = {name: pool.submit(_train_in_worker, raw, name, out_dirs[name], draft) for name in names}
        return {name: run.result() for name, run in runs.items()}


def visible_gpus() -> list[str]:
    """The GPUs this process may use, by the names ``CUDA_VISIBLE_DEVICES`` gives them (its own list
    when it has one, else every GPU by index)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        return [d.strip() for d in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if d.strip()]
    return [str(i) for i in range(torch.cuda.device_count())]


def worker_devices(workers: int, gpus: Sequence[str]) -> list[str | None]:
    """The GPU of each worker: worker i the i-th of ``gpus``, round again when there are more
    workers; None for every worker when there is no GPU."""
    return [gpus[i % len(gpus)] if gpus else None for i in range(workers)]


def worker_pool(workers: int, deterministic: bool) -> ProcessPoolExecutor:
    """``workers`` spawned processes (``start_worker``), worker i on the i-th visible GPU, in turn
    round them (``worker_devices``)."""
    context = multiprocessing.get_context("spawn")
    free = context.Queue()  # each worker takes one device as it starts
    for device in worker_devices(workers, visible_gpus()):
        free.put(device)
    return ProcessPoolExecutor(workers, mp_context=context, initializer=start_worker, initargs=(deterministic, free))


def start_worker(deterministic: bool, free) -> None:
    """A worker's set-up: one torch thread, deterministic kernels if asked, and the device it takes
    from the queue ``free`` as its only GPU (before anything starts CUDA in it)."""
    device = free.get()
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = device
    torch.set_num_threads(1)
    session.use_deterministic_kernels(deterministic)


def _train_in_worker(raw: dict, name: str, out_dir: Path, draft: bool) -> pd.DataFrame:
    return train(config.from_dict(raw), name, progress=False, out_dir=out_dir, draft=draft)


def seed_runs(cfg: Config, names: Sequence[str], clip=None, processor=None) -> dict[int, dict[str, pd.DataFrame]]:
    """Every model of ``names`` trained with each seed of ``ddpo.seeds`` other than ``ddpo.seed`` (trained,
    resumed or reused as notebook 04's runs are): seed -> model -> metrics; empty without such seeds."""
    return {seed: train_all(cfg, names, clip, processor, seed=seed) for seed in cfg.ddpo.seeds if seed != cfg.ddpo.seed}


def rise_window(epochs: int) -> int:
    """The epochs ``reward_rise`` compares at each end of a run: a quarter of them, at least 2."""
    return max(2, epochs // 4)


def reward_rise(values: Sequence[float], window: int, confidence: float = 0.95) -> dict[str, float]:
    """How much a per-epoch mean rose: the mean of the last ``window`` epochs minus that of the first,
    with a Welch t interval that treats each epoch's mean as one draw. Each epoch scores fresh
    samples, so the spread of neighbouring epochs' means is the noise a rerun of that epoch would show."""
    values = np.asarray(values, dtype=float)
    if window < 2 or 2 * window > len(values):
        raise ValueError(
            f"A rise over windows of {window} epochs needs window >= 2 and at least {2 * window} "
            f"epochs; there are {len(values)}."
        )
    first, last = values[:window], values[-window:]
    rise = last.mean() - first.mean()
    half = welch_half_width(first, last, confidence)
    return {"first": first.mean(), "last": last.mean(), "rise": rise, "low": rise - half, "high": rise + half}


def rise_table(
    metrics: dict[str, pd.DataFrame], seeded: dict[int, dict[str, pd.DataFrame]], confidence: float = 0.95
) -> pd.DataFrame:
    """Notebook 04's rise of each model's ambiguity along training (``reward_rise`` over windows of
    ``rise_window`` epochs); with runs of other seeds (``seed_runs``), also the mean of every seed's rise
    (``seeds``, ``seed_rise``) and its bootstrap interval over the seeds (``seed_low``, ``seed_high``)."""
    rows = []
    for name, run in metrics.items():
        row = {"model": name, **reward_rise(run["ambiguity_mean"], rise_window(len(run)), confidence)}
        if seeded:
            others = [runs[name]["ambiguity_mean"] for runs in seeded.values() if name in runs]
            rises = [row["rise"], *(reward_rise(o, rise_window(len(o)), confidence)["rise"] for o in others)]
            low, high = seed_interval(np.array(rises), confidence)
            row.update(seeds=len(rises), seed_rise=float(np.mean(rises)), seed_low=low, seed_high=high)
        rows.append(row)
    return pd.DataFrame(rows)
