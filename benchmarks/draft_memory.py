"""Peak memory of one DRaFT-K batch on the paper-shaped models (Stable Diffusion 2 base's UNet, VAE and
text encoder, CLIP ViT-L/14; random weights, no download), at K = 1 and K = 10, with and without
UNet gradient checkpointing.

Each setting runs in a fresh process (peak RSS only grows): it builds the models, shrinks the latent
to ``--latent`` (16: 128 px images; the paper's is 64) so the CPU can run the chain, samples one
batch with the graph kept through the last K steps, scores it with a differentiable style-ambiguity
reward (the k-means classifier on random centroids, plus the utility) and back-propagates into the
LoRA adapters. It prints the RSS once the models are loaded, the peak RSS after the backward and
their difference (what the K differentiated steps and the backward add), and ends with
``ratio: X`` (the added memory at K = 10 with checkpointing / at K = 1, both checkpointed). On a GPU the same script
reports torch.cuda.max_memory_allocated instead.

    OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python benchmarks/draft_memory.py [--latent 16] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from clipcreate_lib import config
from clipcreate_lib.ddpo.draft import DraftTrainer
from clipcreate_lib.models import loaders
from clipcreate_lib.styles import classifiers, rewards

SETTINGS = ["1:1", "10:1", "10:0"]  # K:checkpointing (1 on, 0 off)


def peak_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def one(k: int, checkpointing: bool, latent: int, device: str, batch: int) -> dict:
    """One DRaFT batch's memory and seconds in this process."""
    cfg = config.load("paper-shaped", models={"device": device}, ddpo={"sample_batch_size": batch})
    pipe = loaders.load_stable_diffusion(cfg)
    pipe.unet.register_to_config(sample_size=latent)
    clip, processor = loaders.load_clip(cfg)
    centroids = torch.randn(27, clip.config.projection_dim, generator=torch.Generator().manual_seed(0))
    classifier = classifiers.kmeans(torch.nn.functional.normalize(centroids, dim=-1).to(pipe.device))
    reward_fn = rewards.differentiable_reward_fn(classifier, clip, processor, cfg.reward)
    draft = config.DraftConfig(steps=k, checkpointing=checkpointing)
    with tempfile.TemporaryDirectory() as out_dir:
        trainer = DraftTrainer(pipe, reward_fn, cfg.ddpo, draft, Path(out_dir), progress=False)
        loaded = peak_gib(pipe.device)
        if pipe.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(pipe.device)
        seconds = {"sample_seconds": 0.0, "reward_seconds": 0.0, "train_seconds": 0.0}
        start = time.perf_counter()
        trainer.backward_batch(torch.arange(batch) % len(cfg.ddpo.prompts), seconds)
        total = time.perf_counter() - start
    peak = peak_gib(pipe.device)
    return {"K": k, "checkpointing": checkpointing, "loaded_gib": loaded, "peak_gib": peak, "seconds": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latent", type=int, default=16, help="latent side (the paper's is 64)")
    parser.add_argument("--batch", type=int, default=1, help="images in the batch")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--settings", nargs="+", default=SETTINGS, help="K:checkpointing pairs, e.g. 1:1 10:0")
    parser.add_argument("--one", nargs=2, metavar=("K", "CHECKPOINTING"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        result = one(int(args.one[0]), args.one[1] == "1", args.latent, args.device, args.batch)
        print(json.dumps(result))
        return
    rows = []
    for setting in args.settings:
        k, checkpointing = int(setting.split(":")[0]), setting.split(":")[1] == "1"
        command = [sys.executable, __file__, "--one", str(k), str(int(checkpointing))]
        command += ["--latent", str(args.latent), "--device", args.device, "--batch", str(args.batch)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        row["added_gib"] = row["peak_gib"] - row["loaded_gib"]
        rows.append(row)
        print(
            f"K = {k:2d}, checkpointing {str(checkpointing):5s}: models {row['loaded_gib']:.2f} GiB, peak "
            f"{row['peak_gib']:.2f} GiB, added {row['added_gib']:.2f} GiB, {row['seconds']:.0f} s",
            flush=True,
        )
    added = {(r["K"], r["checkpointing"]): r["added_gib"] for r in rows}
    what = "peak GPU memory" if args.device == "cuda" else "peak RSS"
    print(f"{what}; latent {args.latent} ({8 * args.latent} px), batch {args.batch}, LoRA, guidance on")
    if (10, True) in added and (1, True) in added:
        print(f"ratio: {added[(10, True)] / added[(1, True)]:.2f} (added memory, K = 10 checkpointed / K = 1)")


if __name__ == "__main__":
    main()
