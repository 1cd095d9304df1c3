"""Does DDPO learn as well under bf16? The mini profile's models retrained with the UNet in bf16 autocast.

On the H200 the clip fraction after updates was 0.56 under bf16 against 0.19-0.20 in float32, on random
weights, where learning means nothing. The mini profile is where it does: this retrains notebook 04's
models (same seeds, same miniature and classifiers) under each named variant of the DDPO settings and
prints, epoch by epoch, the style ambiguity and the clip fraction next to notebook 04's float32 run, then
each run's rise (the mean of the last quarter of the epochs minus the first, Welch interval over epochs).

Variants (``VARIANTS``): ``float32`` (notebook 04's settings: with ``--epochs 1``, the check that this
code reproduces notebook 04's first epoch bit for bit), ``bf16`` (CPU bf16 autocast of the UNet, as the
GPU defaults run it), and candidate fixes. Needs the mini profile's notebooks 01 to 04 in the work folder;
runs go to <work folder>/data/mini/bf16_study/<model>-<variant>/, two at a time in worker processes with
one torch thread each (as notebook 04 trains), and resume where they stopped:

    CLIPCREATE_WORKDIR=<work folder> nice -n 15 .venv/bin/python benchmarks/bf16_learning.py \
        [--models clip-full kmeans-full] [--variants bf16] [--epochs N]
"""

from __future__ import annotations

import argparse
import json

import pandas as pd

from clipcreate_lib import artifacts, config, paths, session
from clipcreate_lib.ddpo import runs, weights
from clipcreate_lib.ddpo.records import METRICS
from clipcreate_lib.ddpo.trainer import run_settings
from clipcreate_lib.styles import classifiers

# Each variant's changes to the profile's DDPO settings.
VARIANTS = {
    "float32": {},
    "bf16": {"cpu_bf16": True},
    "bf16-clip1e-3": {"cpu_bf16": True, "clip_range": 1e-3},  # a deviation: ten times the paper's clip range
    "float32-clip1e-3": {"clip_range": 1e-3},  # its control
}


def run_dir(name: str, variant: str):
    return paths.data_dir() / "bf16_study" / f"{name}-{variant}"


def train_variant(raw: dict, name: str, variant: str, epochs: int) -> pd.DataFrame:
    cfg = config.from_dict(raw)
    for key, value in VARIANTS[variant].items():
        setattr(cfg.ddpo, key, value)
    cfg.ddpo.epochs = epochs
    return runs.train(cfg, name, progress=False, out_dir=run_dir(name, variant))


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


def compare(name: str, variant: str, mine: pd.DataFrame, reference: pd.DataFrame) -> None:
    """Epoch by epoch next to notebook 04's float32 run, and whether the epochs both have are bit-equal."""
    both = mine.merge(reference, on="epoch", how="left", suffixes=("", "_f32"))
    print(f"\n{name} {variant} against notebook 04's float32 run")
    columns = [f"{c}{end}" for c in ("ambiguity_mean", "clipfrac", "approx_kl") for end in ("", "_f32")]
    print(both[["epoch", *columns]].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    shared = [c for c in mine.columns if c != "epoch" and f"{c}_f32" in both]
    equal = all((both[c] == both[f"{c}_f32"]).all() for c in shared)
    print(f"  every metric of epochs 1-{len(mine)} bit-equal to notebook 04's: {equal}")
    f32 = reference["clipfrac"][: len(mine)].mean()
    print(f"  mean clip fraction {mine['clipfrac'].mean():.3f} (float32 {f32:.3f})")
    window = runs.rise_window(len(reference))
    if len(mine) >= 2 * window:
        for label, metrics in (("float32", reference), (variant, mine)):
            rise = runs.reward_rise(metrics["ambiguity_mean"], window)
            print(f"  {label:16s} ambiguity rise {rise['rise']:7.3f}  [{rise['low']:7.3f}, {rise['high']:7.3f}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["clip-full", "kmeans-full"], choices=config.MODEL_NAMES)
    parser.add_argument("--variants", nargs="+", default=["bf16"], choices=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=None, help="default: the profile's")
    parser.add_argument("--processes", type=int, default=2, help="runs at once, one torch thread each")
    parser.add_argument("--report", action="store_true", help="compare the epochs the runs have now; train nothing")
    args = parser.parse_args()
    cfg = session.start("mini")
    epochs = args.epochs or cfg.ddpo.epochs
    references = {name: finished_notebook_run(cfg, name) for name in args.models}
    missing = [name for name, ref in references.items() if ref is None]
    if missing:
        raise SystemExit(f"Notebook 04's mini runs of {', '.join(missing)} are missing or made with other settings.")
    jobs = [(name, variant) for name in args.models for variant in args.variants]
    if not args.report:
        print(f"training {len(jobs)} runs of {epochs} epochs, {args.processes} at a time", flush=True)
        with runs.worker_pool(args.processes, cfg.models.deterministic) as pool:
            for future in [pool.submit(train_variant, config.to_dict(cfg), *job, epochs) for job in jobs]:
                future.result()
    for name, variant in jobs:
        if (run_dir(name, variant) / METRICS).exists():
            compare(name, variant, pd.read_csv(run_dir(name, variant) / METRICS), references[name])


if __name__ == "__main__":
    main()
