"""Seconds per DDPO epoch: our trainer (``clipcreate_lib.ddpo``) against trl 0.23.1's DDPOTrainer.

Both train LoRA adapters on the same tiny Stable Diffusion with the same epoch shape (sample batch
size, sample batches, train batch size, DDIM steps, guidance, eta, LoRA, AdamW, fp32, per-prompt
stats, CFG in training) and the same cheap reward (mean brightness), so the timing is the trainers'.
Each side runs in its own worker process, so its peak memory is its own; the workers are built and
warmed up (one untimed epoch) once, then run epochs in turn (ours, trl, trl, ours, ...), never at the
same time, so load from other processes on the machine hits both alike; the medians are compared.
The result is a ratio against a baseline measured in the same invocation: a figure for people to
read, never a timed assertion in tests.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ddpo_vs_trl.py [--sample-batches 8] [--repeats 5]

The last line is ``ratio: X`` with X = our median / trl's median (below 1: ours is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["painting", "drawing", "art"]
STEPS, GUIDANCE, ETA = 10, 5.0, 1.0
LORA_RANK = LORA_ALPHA = 4  # trl's DefaultDDPOStableDiffusionPipeline: r=4, alpha=4 on to_q/k/v/out.0
SIDES = ("ours", "trl")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample-batches", type=int, default=8, help="sampling batches per epoch (paper: 8)")
    parser.add_argument("--sample-batch-size", type=int, default=4, help="images per sampling batch")
    parser.add_argument("--train-batch-size", type=int, default=4, help="images per optimiser step")
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs per side, after one warm-up each")
    parser.add_argument(
        "--timesteps-per-pass",
        type=int,
        default=10,
        help="ours only: timesteps per training forward/backward (tiny profile: 10; trl: always 1)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def brightness(images):
    return images.mean(dim=(1, 2, 3))


# --- a worker: one side's trainer, driven over stdin/stdout ------------------------------------
def build_ours(args: argparse.Namespace, out_dir: Path):
    from clipcreate_lib import config
    from clipcreate_lib.ddpo.trainer import Trainer
    from clipcreate_lib.models import loaders

    cfg = config.load(
        "tiny",
        models={"device": args.device, "dtype": "float32"},
        ddpo={
            "prompts": PROMPTS,
            "sample_steps": STEPS,
            "guidance_scale": GUIDANCE,
            "eta": ETA,
            "sample_batch_size": args.sample_batch_size,
            "sample_batches": args.sample_batches,
            "train_batch_size": args.train_batch_size,
            "inner_epochs": 1,
            "learning_rate": 3e-4,
            "timesteps_per_pass": args.timesteps_per_pass,
            "per_prompt_stats": True,
            "stat_buffer_size": 16,
            "stat_min_count": 16,
            "lora": True,
            "lora_rank": LORA_RANK,
            "lora_alpha": LORA_ALPHA,
            "lora_targets": ["to_q", "to_k", "to_v", "to_out.0"],
            "autocast": False,
            "seed": 0,
        },
    )
    trainer = Trainer(
        loaders.load_stable_diffusion(cfg),
        lambda images, prompts: {"reward": brightness(images)},
        cfg.ddpo,
        out_dir,
        progress=False,
    )
    return trainer.train_epoch


def build_trl(args: argparse.Namespace, out_dir: Path):
    import logging
    import random

    import accelerate

    accelerate.PartialState()  # trl's trainer expects accelerate's state to exist before it is built
    from trl import DDPOConfig, DDPOTrainer, DefaultDDPOStableDiffusionPipeline

    from clipcreate_lib import config
    from clipcreate_lib.models import loaders

    logging.getLogger("trl").setLevel(logging.ERROR)  # "No image_samples_hook provided"
    folder = out_dir / "tiny-sd"
    loaders.load_stable_diffusion(config.load("tiny")).save_pretrained(folder)
    pipe = DefaultDDPOStableDiffusionPipeline(str(folder), use_lora=True)
    trl_cfg = DDPOConfig(
        num_epochs=1,
        seed=0,
        sample_num_steps=STEPS,
        sample_guidance_scale=GUIDANCE,
        sample_eta=ETA,
        sample_batch_size=args.sample_batch_size,
        sample_num_batches_per_epoch=args.sample_batches,
        train_batch_size=args.train_batch_size,
        train_num_inner_epochs=1,
        train_learning_rate=3e-4,
        train_cfg=True,
        train_clip_range=1e-4,
        train_adv_clip_max=5.0,
        per_prompt_stat_tracking=True,
        per_prompt_stat_tracking_buffer_size=16,
        per_prompt_stat_tracking_min_count=16,
        mixed_precision="no",
        log_with=None,
        save_freq=10**9,
        logdir=str(out_dir / "logs"),
    )
    trainer = DDPOTrainer(
        trl_cfg, lambda images, prompts, metadata: (brightness(images), {}), lambda: (random.choice(PROMPTS), {}), pipe
    )
    pipe.set_progress_bar_config(disable=True)
    epochs = iter(range(10**9))
    return lambda: trainer.step(next(epochs), 0)


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def worker(args: argparse.Namespace) -> None:
    """Build one side, then run one timed epoch per 'epoch' line on stdin; answer each with a JSON
    line on the original stdout (library output goes to stderr)."""
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)  # DDPOTrainer is deprecated
    warnings.filterwarnings("ignore", message=".*_encode_prompt.*", category=FutureWarning)
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        run_epoch = (build_ours if args.worker == "ours" else build_trl)(args, Path(tmp))
        built_rss = peak_rss_mib()
        replies.write(json.dumps({"built": True}) + "\n")
        for line in sys.stdin:
            if line.strip() != "epoch":
                break
            _sync(args.device)
            start = time.perf_counter()
            row = run_epoch()
            _sync(args.device)
            reply = {"seconds": time.perf_counter() - start}
            if isinstance(row, dict):  # ours: its own clock stops before the checkpoint write
                reply["seconds_without_save"] = row["seconds"]
            replies.write(json.dumps(reply) + "\n")
        cuda_peak = torch.cuda.max_memory_allocated() / 2**20 if args.device == "cuda" else None
        replies.write(
            json.dumps({"peak_rss_mib": peak_rss_mib(), "built_rss_mib": built_rss, "cuda_peak_mib": cuda_peak}) + "\n"
        )


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


# --- the driver --------------------------------------------------------------------------------
class Worker:
    def __init__(self, side: str, args: argparse.Namespace, log: Path):
        env = {
            **os.environ,
            "OMP_NUM_THREADS": str(args.threads),
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        if args.device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""  # accelerate would otherwise put trl's side on a GPU
        command = [
            sys.executable,
            __file__,
            "--worker",
            side,
            "--sample-batches",
            str(args.sample_batches),
            "--sample-batch-size",
            str(args.sample_batch_size),
            "--train-batch-size",
            str(args.train_batch_size),
            "--timesteps-per-pass",
            str(args.timesteps_per_pass),
            "--threads",
            str(args.threads),
            "--device",
            args.device,
        ]
        self.side, self.log = side, log
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, stderr=log.open("w"), cwd=ROOT
        )

    def reply(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            sys.exit(f"The {self.side} worker died; its output:\n{self.log.read_text()[-4000:]}")
        return json.loads(line)

    def epoch(self) -> dict:
        self.process.stdin.write("epoch\n")
        self.process.stdin.flush()
        return self.reply()

    def finish(self) -> dict:
        self.process.stdin.close()
        stats = self.reply()
        self.process.wait()
        return stats


def measure(args: argparse.Namespace) -> dict[str, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        workers = {side: Worker(side, args, Path(tmp, f"{side}.log")) for side in SIDES}
        for w in workers.values():  # both build at once; the warm-ups run one after the other
            w.reply()
        results = {side: {"warmup_s": w.epoch()["seconds"], "epochs": []} for side, w in workers.items()}
        for r in range(args.repeats):
            for side in SIDES if r % 2 == 0 else SIDES[::-1]:
                results[side]["epochs"].append(workers[side].epoch())
        for side, w in workers.items():
            results[side].update(w.finish())
    return results


def report(args: argparse.Namespace, results: dict[str, dict]) -> None:
    images = args.sample_batches * args.sample_batch_size
    print(
        f"DDPO epoch on the tiny Stable Diffusion ({args.device}, fp32, {args.threads} thread(s) per worker): "
        f"{args.sample_batches} x {args.sample_batch_size} = {images} images, {STEPS} DDIM steps, guidance "
        f"{GUIDANCE}, eta {ETA}, train batch {args.train_batch_size}, 1 inner epoch, LoRA r={LORA_RANK} "
        f"alpha={LORA_ALPHA}, AdamW lr 3e-4, per-prompt stats, reward = brightness; ours scores "
        f"{args.timesteps_per_pass} timestep(s) per training pass, trl 1"
    )
    print(f"{args.repeats} timed epochs per side after one warm-up, alternating sides; one worker process per side")
    header = (
        f"{'side':<18}{'median s':>10}{'min s':>9}{'max s':>9}{'warm-up s':>11}{'peak RSS MiB':>14}{'+epochs MiB':>13}"
    )
    cuda = args.device == "cuda"
    print(header + (f"{'CUDA peak MiB':>15}" if cuda else ""))
    rows = [(side, [e["seconds"] for e in results[side]["epochs"]], results[side]) for side in SIDES]
    rows.insert(1, ("ours without save", [e["seconds_without_save"] for e in results["ours"]["epochs"]], None))
    for name, seconds, stats in rows:
        line = f"{name:<18}{statistics.median(seconds):>10.2f}{min(seconds):>9.2f}{max(seconds):>9.2f}"
        if stats:
            line += (
                f"{stats['warmup_s']:>11.2f}{stats['peak_rss_mib']:>14.0f}"
                f"{stats['peak_rss_mib'] - stats['built_rss_mib']:>13.0f}"
            )
            line += f"{stats['cuda_peak_mib']:>15.0f}" if cuda else ""
        print(line)
    print(
        "ours includes writing its checkpoint and logs every epoch (as training does; the LoRA is "
        "exported once, at the end); trl saves nothing (save_freq never reached). '+epochs MiB': peak "
        "RSS growth over the built trainer; the worker for trl also imports trl."
    )
    ratio = statistics.median(rows[0][1]) / statistics.median(rows[2][1])
    print(f"ratio: {ratio:.2f}")


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.worker:
        worker(args)
    else:
        report(args, measure(args))


if __name__ == "__main__":
    main()
