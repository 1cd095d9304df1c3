"""Kill a training run with SIGKILL at the moments that could hurt it, resume it in a new process after
every kill, and compare where it ends with an uninterrupted run's end, byte for byte.

    python scripts/kill_resume.py ddpo        # clip-full on the tiny profile: 40 epochs, 9 kills
    python scripts/kill_resume.py can         # the CAN on the tiny profile: 12 epochs, 7 kills
    python scripts/kill_resume.py ddpo --epochs 20 --kills step@3,startup --set ddpo.sample_batches=1

Both runs train from the same inputs (notebooks 01 and 02's, written once by ``killable_run.py setup``)
in a fresh folder (``--workdir``; by default a temporary one, deleted afterwards). The kill points are
``killable_run.py``'s, plus ``after:SECONDS``, a kill from outside at a moment the process does not
choose. Compared: the whole checkpoint (weights, optimiser moments and steps, learning-rate schedule,
both random generators, the stat tracker, the metrics or losses) except the seconds epochs took; every
log file's bytes (timings.csv by its epochs only); the exported weights' content. No temporary file may
be left. Exit status 0 when everything agrees, 1 when something differs (listed), 2 when a run failed or
a kill point was never reached.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from killable_run import CHECKPOINT, epochs_done  # beside this script, on sys.path when it runs

from clipcreate_lib.ddpo import weights

CHILD = Path(__file__).with_name("killable_run.py")
KILLS = {
    "ddpo": "step@22,writing:checkpoint.pt@6,before-rename:checkpoint.pt@5,after-rename:checkpoint.pt@6,startup,"
    "after:25,reward@23,after-rename:checkpoint.pt@last,before-rename:lora@1",
    "can": "step@61,writing:checkpoint.pt@2,before-rename:checkpoint.pt@2,after-rename:checkpoint.pt@2,startup,"
    "after:45,after-rename:checkpoint.pt@last",
}
EPOCHS = {"ddpo": 40, "can": 12}
SAME_BYTES = {"ddpo": ("metrics.csv", "trained.json"), "can": ("losses.csv",)}


class RunFailed(RuntimeError):
    """A child ended otherwise than asked: an error, or a kill point it never reached."""


def start(kind: str, run_dir: Path, args, kill: str | None, log: Path) -> subprocess.Popen:
    command = [sys.executable, str(CHILD), kind, str(run_dir), str(args.epochs)]
    inside = kill and not kill.startswith("after:")  # a kill the child arms itself
    command += [f"--set={item}" for item in args.set] + ([f"--kill={kill}"] if inside else [])
    env = {**os.environ, "CLIPCREATE_WORKDIR": str(args.workdir)}
    log.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def finish(process: subprocess.Popen, kill: str | None, log: Path) -> str:
    """Wait for ``process``; how it ended ('killed', or 'finished' when no kill was asked for)."""
    timed = kill is not None and kill.startswith("after:")
    if timed:
        try:
            process.wait(timeout=float(kill.removeprefix("after:")))
        except subprocess.TimeoutExpired:
            process.kill()
    code = process.wait()
    if code == -signal.SIGKILL:
        return "killed"
    if code == 0 and (timed or not kill):
        return "finished before the kill" if timed else "finished"
    tail = log.read_text()[-2000:]
    raise RunFailed(f"{' '.join(process.args[1:])} ended with status {code}, not as asked:\n{tail}")


def left_behind(folder: Path) -> list[str]:
    """Every hidden file or folder under ``folder``: what an interrupted write leaves."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*")) if folder.exists() else []


def differences(a, b, where: str) -> list[str]:
    """Where two nested checkpoint values differ: tensors by dtype, shape and every element's bits."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        same = isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype
        if same and a.shape == b.shape and torch.equal(a, b):
            return []
        if same and a.shape == b.shape and a.is_floating_point():
            unequal = a != b
            gap = (a.double() - b.double()).abs().max().item()
            return [f"{where}: {int(unequal.sum())} of {a.numel()} values differ (max abs {gap:.2g})"]
        return [f"{where}: differs"]
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{where}: keys {sorted(map(str, a.keys() ^ b.keys()))} in one only"]
        return [d for key in a for d in differences(a[key], b[key], f"{where}.{key}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{where}: {len(a)} against {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    both_nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    return [] if both_nan or (type(a) is type(b) and a == b) else [f"{where}: {a!r} against {b!r}"]


def compare(kind: str, straight: Path, killed: Path) -> list[str]:
    """Every difference between the two run folders' ends."""
    load = [torch.load(d / CHECKPOINT, map_location="cpu", weights_only=False) for d in (straight, killed)]
    found = differences(*({k: v for k, v in c.items() if k != "timings"} for c in load), "checkpoint")
    for name in SAME_BYTES[kind]:
        if (straight / name).read_bytes() != (killed / name).read_bytes():
            found.append(f"{name}: other bytes")
    if kind == "ddpo":
        timings = [list(pd.read_csv(d / "timings.csv")["epoch"]) for d in (straight, killed)]
        if timings[0] != timings[1]:
            found.append(f"timings.csv: epochs {timings[1]} against {timings[0]}")
        exported = [[weights.content_bytes(f) for f in weights.trained_weights(d)[1]] for d in (straight, killed)]
        if exported[0] != exported[1]:
            found.append("exported weights: other content")
    return found


def kill_and_resume(kind: str, args) -> dict:
    straight_dir, killed_dir, logs = args.workdir / "straight", args.workdir / "killed", args.workdir / "logs"
    clock = time.perf_counter()
    finish(start("setup", straight_dir, args, None, logs / "setup.log"), None, logs / "setup.log")
    straight = start(kind, straight_dir, args, None, logs / "straight.log")  # side by side with the kills
    kills = []
    for number, point in enumerate([*args.kills, None]):
        log = logs / f"killed-{number}.log"
        ended = finish(start(kind, killed_dir, args, point, log), point, log)
        kills.append(
            {"kill": point, "ended": ended, "epochs": epochs_done(killed_dir), "left": left_behind(killed_dir)}
        )
        print(
            f"{time.perf_counter() - clock:6.0f} s  {point or 'no kill'}: {ended} with {kills[-1]['epochs']} "
            f"epochs in the checkpoint; left behind: {', '.join(kills[-1]['left']) or 'nothing'}",
            flush=True,
        )
    finish(straight, None, logs / "straight.log")
    found = compare(kind, straight_dir, killed_dir)
    left = left_behind(straight_dir) + left_behind(killed_dir)
    return {
        "kind": kind,
        "epochs": args.epochs,
        "kills": kills,
        "differences": found,
        "left_at_end": left,
        "equal": not found and not left,
        "seconds": round(time.perf_counter() - clock),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=("ddpo", "can"))
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--kills", help="comma-separated kill points, in order (default: the kind's own)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--workdir", type=Path, help="kept afterwards; default: a temporary folder")
    parser.add_argument("--report", type=Path, help="also write the report as JSON here")
    args = parser.parse_args()
    args.epochs = args.epochs or EPOCHS[args.kind]
    args.kills = (args.kills or KILLS[args.kind]).split(",")
    keep = args.workdir is not None
    args.workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="kill_resume."))).resolve()
    try:
        report = kill_and_resume(args.kind, args)
    except RunFailed as error:
        print(error, file=sys.stderr)
        return 2
    finally:
        if not keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
    if args.report:
        args.report.write_text(json.dumps(report, indent=1))
    killed = sum(k["ended"] == "killed" for k in report["kills"])
    print(
        f"{args.kind}, {args.epochs} epochs, killed {killed} times, {report['seconds']} s: "
        + ("bitwise equal to the uninterrupted run, nothing left behind" if report["equal"] else "DIFFERENT")
    )
    for line in report["differences"] + [f"left behind: {p}" for p in report["left_at_end"]]:
        print("  " + line)
    return 0 if report["equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
