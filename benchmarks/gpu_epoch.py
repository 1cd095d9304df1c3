"""Seconds per DDPO epoch at the paper's shape, and for the evaluation, against the paper's A100.

The paper trained each model for 100 epochs in about 14 h on one A100: about 504 s per epoch of
32 images at 512 px (10 DDIM steps, guidance 5, LoRA, a CLIP ViT-L/14 reward; docs/method.md).
This script builds the ``paper-shaped`` profile (Stable Diffusion 2 base and CLIP ViT-L/14 with
seeded random weights, so no model hub is needed), trains DDPO epochs of the paper's shape on it
with a real style-ambiguity reward (CLIP text classifier over the 27 WikiArt styles, utility term),
and times sampling, reward and training apart (``Trainer``'s per-phase seconds), the whole epoch
(checkpoint writing included), and the evaluation of ``--eval-images`` images (30 DDIM steps, eta 0,
guidance 7.5). It prints s/epoch, images/s, the floating-point operations of an epoch (counted by
torch's FLOP counter on the warm-up epoch) and the rate they were done at, against a matrix product's
rate measured in the same run, peak memory (GPU: torch.cuda.max_memory_allocated; CPU: peak RSS) and,
last, ``ratio: X`` = measured s/epoch / 504.

The ratio compares our device with the paper's A100: a cross-device figure, meaningful only on a GPU
at the paper's size and epoch shape (the defaults of ``--profile paper-shaped``). At a small size, on
a CPU or with the tiny profile (as the tests run it) it only shows that the script works.

    # on a GPU, the paper's shape (goal: <= 60 s/epoch on one H100, 200 evaluation images <= 2 min):
    .venv/bin/python benchmarks/gpu_epoch.py --profile paper-shaped --device cuda --repeats 3 --eval-images 200
    # each speed option before/after: add --no-autocast --dtype float32, --no-tf32, --no-sdpa,
    # --channels-last, --compile
    # on a CPU, small:
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gpu_epoch.py --profile tiny --device cpu --repeats 1

``benchmarks/gpu_sweep.py`` measures every speed option in one process, for one short GPU lease.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clipcreate_lib import config  # noqa: E402
from clipcreate_lib.data import wikiart  # noqa: E402
from clipcreate_lib.ddpo import precision  # noqa: E402
from clipcreate_lib.ddpo.trainer import Trainer  # noqa: E402
from clipcreate_lib.evaluation import generation, scoring  # noqa: E402
from clipcreate_lib.models import clip_space, loaders  # noqa: E402
from clipcreate_lib.styles import classifiers, rewards  # noqa: E402

PAPER_SECONDS_PER_EPOCH = 14 * 3600 / 100  # 504 s: "about 14 h" for 100 epochs on one A100
EVAL_IMAGES, EVAL_STEPS = 200, 30  # the paper's evaluation protocol (docs/method.md)
GOAL_HOURS = 1.0  # issue 31's goal: the six models' 600 epochs and their evaluation in one GPU-hour


def shape_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments that set the models, the epoch's shape and the evaluation's (gpu_sweep.py shares them)."""
    parser.add_argument("--profile", choices=["paper-shaped", "tiny"], default="paper-shaped")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--size", type=int, help="image size in px (default: the profile's, 512 or 32)")
    parser.add_argument("--sample-batches", type=int, help="sampling batches per epoch (default: the profile's, 8)")
    parser.add_argument("--sample-batch-size", type=int, help="images per sampling batch (default: 4)")
    parser.add_argument("--train-batch-size", type=int, help="images per optimiser step (default: 4)")
    parser.add_argument("--steps", type=int, help="DDIM steps per sample (default: 10)")
    parser.add_argument(
        "--timesteps-per-pass", type=int, help="timesteps per training forward (default: the profile's)"
    )
    parser.add_argument("--repeats", type=int, default=2, help="timed epochs, after one warm-up epoch")
    parser.add_argument("--eval-batch", type=int, default=8, help="images per evaluation batch")
    parser.add_argument("--eval-steps", type=int, default=EVAL_STEPS, help="DDIM steps of the evaluation")


def check_counts(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Every count given must be at least 1."""
    for name in (
        "size",
        "sample_batches",
        "sample_batch_size",
        "train_batch_size",
        "steps",
        "timesteps_per_pass",
        "repeats",
        "eval_batch",
        "eval_steps",
        "eval_images",
    ):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1.")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    shape_arguments(parser)
    parser.add_argument(
        "--eval-images",
        type=int,
        help=f"evaluation images to time (default: one batch; notebook 05 makes {EVAL_IMAGES})",
    )
    parser.add_argument(
        "--dtype",
        choices=["bfloat16", "float16", "float32"],
        help="dtype of the frozen models on a GPU (default: the profile's, bfloat16)",
    )
    parser.add_argument("--no-autocast", action="store_true", help="no bf16 autocast of the UNet")
    parser.add_argument("--no-tf32", action="store_true", help="float32 matmuls and convolutions in IEEE float32")
    parser.add_argument(
        "--no-sdpa",
        action="store_true",
        help="classic attention (diffusers AttnProcessor, transformers 'eager') instead of SDPA",
    )
    parser.add_argument("--channels-last", action="store_true", help="UNet in channels_last memory format")
    parser.add_argument("--compile", action="store_true", help="torch.compile the UNet (the warm-up epoch compiles)")
    parser.add_argument("--models", type=int, default=6, help="models in the projection (the paper's six)")
    parser.add_argument("--epochs", type=int, default=100, help="epochs per model in the projection (paper: 100)")
    args = parser.parse_args(argv)
    check_counts(parser, args)
    if args.eval_images is None:
        args.eval_images = args.eval_batch
    return args


def shape_overrides(args: argparse.Namespace) -> dict:
    """The ddpo settings the shape arguments override."""
    return {
        key: value
        for key, value in {
            "sample_batches": args.sample_batches,
            "sample_batch_size": args.sample_batch_size,
            "train_batch_size": args.train_batch_size,
            "sample_steps": args.steps,
            "timesteps_per_pass": args.timesteps_per_pass,
        }.items()
        if value is not None
    }


def load_config(args: argparse.Namespace) -> config.Config:
    ddpo_overrides = {
        **shape_overrides(args),
        "autocast": not args.no_autocast,
        "tf32": not args.no_tf32,
        "channels_last": args.channels_last,
        "compile": args.compile,
    }
    model_overrides = {"device": args.device, **({"dtype": args.dtype} if args.dtype else {})}
    return config.load(args.profile, models=model_overrides, ddpo=ddpo_overrides)


def set_size(pipe, size: int) -> None:
    """Sample at ``size`` px: the UNet's latent size is all that sets it (the architecture is unchanged)."""
    unet = pipe.unet
    multiple = pipe.vae_scale_factor * 2 ** (len(unet.config.block_out_channels) - 1)
    if size % multiple:
        raise SystemExit(
            f"--size {size} is not a multiple of {multiple}, which this UNet needs; "
            f"try {multiple * max(1, size // multiple)}."
        )
    unet.register_to_config(sample_size=size // pipe.vae_scale_factor)


def use_classic_attention(pipe, clip) -> None:
    """The attention before SDPA, for a before/after measurement (diffusers and transformers use SDPA)."""
    from diffusers.models.attention_processor import AttnProcessor

    pipe.unet.set_attn_processor(AttnProcessor())
    pipe.vae.set_attn_processor(AttnProcessor())
    pipe.text_encoder.set_attn_implementation("eager")
    clip.set_attn_implementation("eager")


def style_reward(cfg: config.Config):
    """The training reward with the paper's text classifier over the 27 WikiArt style names. Its label
    embeddings come from the CLIP being timed, not from notebook 02, so nothing but code is needed.
    Returns the reward function, CLIP, its processor and the classifier."""
    clip, processor = loaders.load_clip(cfg)
    labels = list(wikiart.WIKIART_STYLES)
    with torch.no_grad():
        label_embeddings = clip_space.text_embeddings([wikiart.style_text(s) for s in labels], clip, processor)
    classifier = classifiers.text(label_embeddings, clip.logit_scale, labels)
    return rewards.reward_fn(classifier, clip, processor, cfg.reward), clip, processor, classifier


def clock(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def flop_counter() -> FlopCounterMode:
    """torch's FLOP counter (matrix products, convolutions, attention; forward and backward), told
    also about the CPU's fused attention kernel, which it does not know: it counts the GPU's flash,
    memory-efficient and cuDNN attention itself."""
    aten = torch.ops.aten
    return FlopCounterMode(
        display=False,
        custom_mapping={
            aten._scaled_dot_product_flash_attention_for_cpu: lambda q, k, v, *_, out_shape=None, **__: sdpa_flop_count(
                q, k, v
            ),
            aten._scaled_dot_product_flash_attention_for_cpu_backward: lambda grad, q, k, v, *_, out_shape=None, **__: (
                sdpa_backward_flop_count(grad, q, k, v)
            ),
        },
    )


def matmul_tflops(device: torch.device, dtype: torch.dtype) -> float:
    """TFLOP/s of a square matrix product in ``dtype`` on ``device``, under the precision flags set
    now: the ceiling an epoch's rate is read against (no device does a UNet faster than its matmuls)."""
    n, repeats = (8192, 10) if device.type == "cuda" else (1024, 3)
    generator = torch.Generator(device).manual_seed(0)
    a, b = (torch.randn(n, n, generator=generator, device=device, dtype=dtype) for _ in range(2))
    a @ b  # warm-up: kernel choice and handles
    start = clock(device)
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (clock(device) - start) / 1e12


def time_epochs(trainer: Trainer, repeats: int, count_flops: bool = True) -> tuple[dict, list[dict]]:
    """One warm-up epoch, then ``repeats`` timed ones: each row is the trainer's metrics row (its
    per-phase seconds) plus ``epoch_seconds``, the wall clock of the whole epoch, checkpoint included.
    The warm-up row also holds ``flops``, the epoch's floating-point operations, unless ``count_flops``
    is off (a compiled UNet: dynamo does not trace under the counter). Every epoch does the same work."""
    rows = []
    for i in range(1 + repeats):
        counter = flop_counter() if i == 0 and count_flops else None
        start = clock(trainer.device)
        with counter or contextlib.nullcontext():
            row = trainer.train_epoch()
        rows.append(
            {
                **row,
                "epoch_seconds": clock(trainer.device) - start,
                **({"flops": counter.get_total_flops()} if counter else {}),
            }
        )
    return rows[0], rows[1:]


def time_evaluation(
    pipe,
    cfg: config.Config,
    clip,
    processor,
    classifier,
    images: int,
    batch: int,
    steps: int,
    autocast,
    count_flops: bool = True,
) -> tuple[float, float, int | None]:
    """Seconds to make and to score ``images`` evaluation images as notebook 05 does: ``generation.generate``
    (image i: prompt i mod 24, seed i; DDIM eta 0, guidance 7.5; PNGs written, ``batch`` at a time),
    then AVA, ImageReward, alignment and ambiguity through ``scoring.score``; and the FLOPs of one
    image, counted on the untimed warm-up batch that comes first unless ``count_flops`` is off (a
    compiled UNet, as in ``time_epochs``)."""
    device = pipe.unet.device
    aesthetic = loaders.load_aesthetic(cfg, clip)
    image_reward = loaders.load_image_reward(cfg, batch)
    seconds, counter = [], flop_counter() if count_flops else None
    for count, counting in ((batch, counter), (images, None)):
        settings = config.load(
            cfg.profile, evaluation={"images": count, "steps": steps, "batch_size": batch, "score_batch_size": batch}
        ).evaluation
        with (
            tempfile.TemporaryDirectory() as out_dir,
            torch.no_grad(),
            autocast(),
            counting or contextlib.nullcontext(),
        ):
            start = clock(device)
            manifest = generation.generate(pipe, settings, Path(out_dir), {"model": "benchmark"}, progress=False)
            made = clock(device)
            loaded = generation.load_images(Path(out_dir), manifest)
            scoring.score(
                loaded, list(manifest["prompt"]), clip, processor, aesthetic, image_reward, {"clip": classifier}, batch
            )
            seconds.append((made - start, clock(device) - made))
    return *seconds[-1], counter.get_total_flops() // batch if counter else None


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__}, CUDA {torch.version.cuda})"
    names = (
        [
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ]
        if Path("/proc/cpuinfo").exists()
        else []
    )
    return (
        f"{names[0] if names else platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{torch.get_num_threads()} torch thread(s) (torch {torch.__version__})"
    )


def peak_memory(device: torch.device) -> str:
    if device.type == "cuda":
        return f"peak GPU memory: {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB (max_memory_allocated)"
    return f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB (peak RSS, CPU)"


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = load_config(args)
    started = time.perf_counter()
    pipe = loaders.load_stable_diffusion(cfg)
    reward, clip, processor, classifier = style_reward(cfg)
    size = args.size or pipe.unet.config.sample_size * pipe.vae_scale_factor
    set_size(pipe, size)
    if args.no_sdpa:
        use_classic_attention(pipe, clip)
    built = time.perf_counter() - started
    d = cfg.ddpo
    with tempfile.TemporaryDirectory() as out_dir:
        trainer = Trainer(pipe, reward, d, Path(out_dir), run={"benchmark": "gpu_epoch"}, progress=False)
        device = trainer.device
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        warmup, rows = time_epochs(trainer, args.repeats, count_flops=not d.compile)
        make_seconds, score_seconds, eval_flops = time_evaluation(
            pipe,
            cfg,
            clip,
            processor,
            classifier,
            args.eval_images,
            args.eval_batch,
            args.eval_steps,
            trainer.policy.autocast,
            count_flops=not d.compile,
        )
    dtype = precision.unet_compute_dtype(device, d.autocast)
    ceiling = matmul_tflops(device, dtype)

    images = d.sample_batches * d.sample_batch_size
    median = {
        key: statistics.median(row[key] for row in rows)
        for key in ("epoch_seconds", "sample_seconds", "reward_seconds", "train_seconds")
    }
    paper_shape = (
        args.profile == "paper-shaped"
        and size == 512
        and images == 32
        and d.sample_steps == 10
        and args.eval_steps == EVAL_STEPS
        and device.type == "cuda"
    )
    print(f"device: {describe(device)}")
    print(
        f"profile {args.profile}: {size} px, {d.sample_batches} x {d.sample_batch_size} samples per epoch, "
        f"{d.sample_steps} DDIM steps, guidance {d.guidance_scale}, train batch {d.train_batch_size}, "
        f"{d.timesteps_per_pass} timestep(s) per pass; {', '.join(options(cfg, device, args.no_sdpa))}; "
        f"models built in {built:.1f} s"
    )
    print(f"warm-up epoch: {warmup['epoch_seconds']:.2f} s; median of {len(rows)} timed epoch(s) below")
    print(
        f"s/epoch: {median['epoch_seconds']:.2f} (sampling {median['sample_seconds']:.2f}, reward "
        f"{median['reward_seconds']:.2f}, training {median['train_seconds']:.2f}; "
        "the rest: advantages and checkpointing)"
    )
    print(
        f"images/s: {images / median['epoch_seconds']:.2f} (training, {images} images per epoch); "
        f"100 epochs: {100 * median['epoch_seconds'] / 3600:.2f} h"
    )
    print(f"compute: {rate_line(warmup.get('flops'), median['epoch_seconds'], ceiling, dtype)}")
    per_image = (make_seconds + score_seconds) / args.eval_images
    print(
        f"evaluation: {args.eval_images} image(s) in batches of {args.eval_batch}, {args.eval_steps} steps: made "
        f"in {make_seconds:.2f} s, scored (AVA, ImageReward, CLIP) in {score_seconds:.2f} s "
        f"({1 / per_image:.2f} images/s); {EVAL_IMAGES} images of one model: {EVAL_IMAGES * per_image:.1f} s"
        + ("" if args.eval_images == EVAL_IMAGES else " (extrapolated)")
        + (
            f"; {eval_flops / 1e12:.2f} TFLOP per image, done at {eval_flops / per_image / 1e12:.2f} TFLOP/s"
            if eval_flops is not None
            else "; FLOPs not counted (compiled UNet)"
        )
    )
    print(projection(median["epoch_seconds"], EVAL_IMAGES * per_image, args.models, args.epochs))
    print(peak_memory(device))
    if not paper_shape:
        print("note: not the paper's size, epoch shape and device; the ratio below compares unlike work")
    print(f"ratio: {median['epoch_seconds'] / PAPER_SECONDS_PER_EPOCH:.4f}")


def projection(epoch_seconds: float, eval_seconds: float, models: int, epochs: int) -> str:
    """The hours ``models`` models of ``epochs`` epochs take here, with notebook 05's evaluation of
    each and of the untrained model (``models + 1`` sets of 200 images), and the ratio to the goal."""
    hours = (models * epochs * epoch_seconds + (models + 1) * eval_seconds) / 3600
    return (
        f"projection: {models} models x {epochs} epochs + {models + 1} evaluations of {EVAL_IMAGES} images: "
        f"{hours:.2f} h here ({models * epochs * epoch_seconds / 3600:.2f} h training), "
        f"{hours / GOAL_HOURS:.2f} x the {GOAL_HOURS:g}-hour goal"
    )


def options(cfg: config.Config, device: torch.device, classic_attention: bool) -> list[str]:
    """The speed options in force, in words."""
    d = cfg.ddpo
    return [
        f"models {loaders.inference_dtype(cfg.models)}",
        "bf16 autocast" if device.type == "cuda" and d.autocast else "no autocast",
        ("tf32" if d.tf32 else "ieee fp32") if device.type == "cuda" else "fp32 (CPU)",
        "classic attention" if classic_attention else "SDPA",
        "channels_last" if d.channels_last else "contiguous",
        "compiled" if d.compile else "eager",
    ]


def rate_line(flops: int | None, seconds: float, ceiling: float, dtype: torch.dtype) -> str:
    """The epoch's FLOPs, the rate they were done at, and that rate against a matrix product's."""
    name = str(dtype).removeprefix("torch.")
    if flops is None:
        return f"FLOPs not counted (compiled UNet); a {name} matrix product runs at {ceiling:.2f} TFLOP/s here"
    rate = flops / seconds / 1e12
    return (
        f"{flops / 1e12:.2f} TFLOP per epoch (counted on the warm-up epoch), done at {rate:.2f} TFLOP/s = "
        f"{100 * rate / ceiling:.1f}% of a {name} matrix product's {ceiling:.2f} TFLOP/s here; at that rate "
        f"the epoch would take {flops / ceiling / 1e12:.2f} s"
    )


if __name__ == "__main__":
    main()
