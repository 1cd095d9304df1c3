"""One DDPO run of the tiny pipeline on the processes of ``accelerate launch``: the child of
``test_data_parallel.py``.

    accelerate launch --multi_gpu --num_processes 2 tests/ddpo/data_parallel_run.py OUT RUN[:OPTIONS] ...

trains each RUN in turn, ``SETTINGS`` for ``EPOCHS`` epochs into OUT/RUN (resuming what is there),
with the brightness reward. Every process writes ``OUT/RUN-rank<i>.json``: after every optimiser
step the largest gap between its weights and the main process's (gathered), the files it wrote, and
whether the run's ``trained.json`` existed when its ``train`` returned. The main process also saves
the initial weights and, after every epoch, the weights and the stat tracker (``OUT/RUN-*.pt``).
OPTIONS, comma-separated: ``unsynced`` runs the training forward through the bare UNet instead of
the DDP wrapper (the bug this must catch), ``kill=POINT`` arms a kill point of
``scripts/killable_run.py`` in the main process, ``slow-main`` makes the main process publish its
weights 2 s late (the others must wait for it, not end first).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from clipcreate_lib import artifacts, config, paths
from clipcreate_lib.ddpo import records
from clipcreate_lib.ddpo.trainer import Trainer
from clipcreate_lib.models import loaders

EPOCHS = 2
SETTINGS = {
    "sample_batches": 2,
    "sample_batch_size": 4,  # 8 images an epoch, one batch of 4 sampled by each of two processes
    "train_batch_size": 4,  # two optimiser steps an epoch, two rows in each process
    "sample_steps": 4,
    "timesteps_per_pass": 4,
    "stat_buffer_size": 8,
    "stat_min_count": 4,  # per-prompt statistics from the second epoch on
}


def tiny_run(out_dir: Path, progress: bool = False) -> Trainer:
    """The trainer of the runs compared here: the tiny pipeline, ``SETTINGS``, image brightness."""
    torch.set_num_threads(1)
    cfg = config.load("tiny", ddpo={**SETTINGS, "epochs": EPOCHS}).ddpo
    pipe = loaders.load_stable_diffusion(config.load("tiny"))
    return Trainer(pipe, brightness, cfg, out_dir, run={"test": "data parallel"}, progress=progress)


def brightness(images, prompts):
    value = images.mean(dim=(1, 2, 3))
    return {"reward": value, "brightness": value}


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in trainer.state.params.items()}


def train(out: Path, spec: str) -> None:
    """Train the run ``spec`` names (``NAME[:OPTION,...]``, the options as in this module's docstring)."""
    run, _, options = spec.partition(":")
    options = dict(o.partition("=")[::2] for o in options.split(",") if o)
    trainer = tiny_run(out / run)
    processes, report = trainer.processes, {"gaps": [], "writes": []}
    if "unsynced" in options:
        trainer.policy.unet = trainer.pipe.unet  # the bug: DDP is built but the loss does not go through it
    if processes.is_main:
        torch.save(flat(trainer), out / f"{run}-initial.pt")
        if "kill" in options:  # kill_resume.py's kill points (imported only then: it imports datasets)
            sys.path.insert(0, str(paths.REPO / "scripts"))
            import killable_run

            killable_run.arm(options["kill"], EPOCHS - trainer.state.epoch)
    steps = register_optimizer_step_post_hook(lambda *_: report["gaps"].append(gap(trainer)))
    write, publish, train_epoch = artifacts.atomic_write, records.publish, trainer.train_epoch
    artifacts.atomic_write = lambda path, how: report["writes"].append(Path(path).name) or write(path, how)
    if processes.is_main and "slow-main" in options:
        records.publish = lambda *a: time.sleep(2) or publish(*a)

    def train_and_keep_epoch():
        row = train_epoch()
        if processes.is_main:
            snapshot = {"weights": weights(trainer), "tracker": trainer.state.tracker.state_dict()}
            torch.save(snapshot, out / f"{run}-epoch{trainer.state.epoch}.pt")
        return row

    trainer.train_epoch = train_and_keep_epoch
    trainer.train()
    report["published_on_return"] = (out / run / "trained.json").exists()
    (out / f"{run}-rank{processes.index}.json").write_text(json.dumps(report))
    steps.remove()
    artifacts.atomic_write, records.publish = write, publish


def flat(trainer: Trainer) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in trainer.state.params.values()])


def gap(trainer: Trainer) -> float:
    """The largest difference between this process's weights and the main process's (a collective)."""
    everyone = trainer.processes.gather(flat(trainer)[None])
    return float((everyone[trainer.processes.index] - everyone[0]).abs().max())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("runs", nargs="+")
    args = parser.parse_args()
    for spec in args.runs:
        train(args.out, spec)
