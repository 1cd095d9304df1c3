"""One training run that SIGKILLs itself at a named moment: the child process of kill_resume.py.

    python scripts/killable_run.py {ddpo,can,setup} RUN_DIR EPOCHS [--kill POINT] [--set section.key=value ...]

``ddpo`` trains clip-full on the tiny profile (``runs.train``, the notebook's call) into RUN_DIR, ``can``
the CAN on the full label set (``can_training.train``, notebook 03's call), ``setup`` writes what both
read (notebook 01's full dataset and notebook 02's text labels) under ``CLIPCREATE_WORKDIR``.

A kill point names a moment counted from this process's start (K = 1 is the first):

    step@K                  just before the K-th optimiser step (mid-epoch)
    reward@K                during the K-th reward call (mid-epoch, DDPO)
    startup                 just after the checkpoint was read
    writing:FILE@K          half-way through the K-th write of FILE, half of its bytes on disk
    before-rename:FILE@K    just before the rename that puts the K-th FILE in place
    after-rename:FILE@K     just after it, before anything else is written

``@last`` is the write of the last epoch's checkpoint (counted from the checkpoint this process reads).
The kill is ``os.kill(os.getpid(), SIGKILL)``: nothing of Python runs after it, as when the machine
or the user kills a run.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
from pathlib import Path

import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from clipcreate_lib import artifacts, config, paths, session
from clipcreate_lib.data import label_sets
from clipcreate_lib.data.wikiart import SkipCount

PROFILE = "tiny"
CHECKPOINT = "checkpoint.pt"  # the name of both trainers' checkpoints


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def counter(k: int):
    """A function that is True on its k-th call only."""
    calls = [0]

    def tick() -> bool:
        calls[0] += 1
        return calls[0] == k

    return tick


def arm(point: str, remaining: int) -> None:
    """Patch this process so that it kills itself at ``point``; ``remaining`` epochs make ``@last``."""
    what, _, count = point.partition("@")
    moment, _, name = what.partition(":")
    hit = counter(remaining if count == "last" else int(count or 1))
    if moment == "step":
        register_optimizer_step_pre_hook(lambda *_: die() if hit() else None)
    elif moment == "reward":
        arm_reward(hit)
    elif moment == "startup":
        load = torch.load

        def load_then_die(f, *args, **kwargs):
            loaded = load(f, *args, **kwargs)
            if Path(f).name == CHECKPOINT:
                die()
            return loaded

        torch.load = load_then_die
    elif moment == "writing":
        arm_writing(name, hit)
    elif moment in ("before-rename", "after-rename"):
        arm_rename(name, hit, before=moment == "before-rename")
    else:
        raise SystemExit(f"unknown kill point {point!r}; see this script's docstring")


def arm_reward(hit) -> None:
    from clipcreate_lib.styles import rewards

    make = rewards.reward_fn

    def counted(*args, **kwargs):
        score = make(*args, **kwargs)
        return lambda images, prompts: die() if hit() else score(images, prompts)

    rewards.reward_fn = counted


def arm_writing(name: str, hit) -> None:
    write_atomically = artifacts.atomic_write

    def half_then_die(path, write):
        if Path(path).name != name or not hit():
            return write_atomically(path, write)

        def half(handle):
            whole = io.BytesIO()
            write(whole)
            handle.write(whole.getvalue()[: len(whole.getvalue()) // 2])
            handle.flush()
            os.fsync(handle.fileno())
            die()

        return write_atomically(path, half)

    artifacts.atomic_write = half_then_die


def arm_rename(name: str, hit, before: bool) -> None:
    """Around ``os.replace`` (atomic_write's files) and ``os.rename`` (replace_dir's folders)."""
    for attribute in ("replace", "rename"):
        rename = getattr(os, attribute)

        def wrapped(src, dst, *args, _rename=rename, **kwargs):
            fire = Path(dst).name == name and hit()
            if fire and before:
                die()
            _rename(src, dst, *args, **kwargs)
            if fire:
                die()

        setattr(os, attribute, wrapped)


def epochs_done(run_dir: Path) -> int:
    if not (run_dir / CHECKPOINT).exists():
        return 0
    checkpoint = torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=False)
    return checkpoint["epoch"] if "epoch" in checkpoint else len(checkpoint["losses"])


def setup(cfg: config.Config) -> None:
    """Notebook 01's full dataset and notebook 02's text labels for it, as the two runs read them."""
    from clipcreate_lib.models import loaders
    from clipcreate_lib.styles import text_labels

    ds, _ = label_sets.build_full(cfg.data, cfg.profile, SkipCount())
    clip, processor = loaders.load_clip(cfg)
    labels = ds.features["style"].names
    text_labels.save("full", labels, text_labels.embed(labels, clip, processor), loaders.model_name(cfg.models, "clip"))


def train(kind: str, cfg: config.Config, run_dir: Path) -> None:
    if kind == "ddpo":
        from clipcreate_lib.ddpo import runs

        runs.train(cfg, "clip-full", progress=False, out_dir=run_dir)
    else:
        from clipcreate_lib.styles import can_training

        ds = label_sets.load_saved(paths.dataset_dir("full"))
        record = label_sets.record("full")
        can_training.train(cfg.can, ds, record, run_dir / CHECKPOINT, run_dir / "losses.csv", desc="CAN")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=("ddpo", "can", "setup"))
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("epochs", type=int)
    parser.add_argument("--kill", help="the kill point (see the docstring); none: run to the end")
    parser.add_argument("--set", action="append", default=[], dest="sets", metavar="SECTION.KEY=VALUE")
    args = parser.parse_args()
    overrides = config.parse_sets(args.sets)
    for section in ("ddpo", "can"):
        overrides[section] = {**overrides.get(section, {}), "epochs": args.epochs}
    cfg = session.start(PROFILE, overrides)
    if args.kind == "setup":
        return setup(cfg)
    if args.kill:
        arm(args.kill, args.epochs - epochs_done(args.run_dir))
    train(args.kind, cfg, args.run_dir)


if __name__ == "__main__":
    main()
