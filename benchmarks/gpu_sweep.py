"""Every speed option of the throughput issue, measured on one short GPU lease in one process: what
each buys, and whether the UNet still computes the same function under it.

``gpu_epoch.py`` measures one configuration per run, and building the paper-shaped models alone takes
a minute. This script builds them once, in float32, and then, inside ``--budget`` seconds:

1. check: the UNet's guided noise prediction on fresh random latents under each step of the ladder
   below, against the first step, as ||out - ref|| / ||ref|| (on the H200, with random weights and
   guidance 5: TF32 3.6e-3, bf16 5.5e-2; on a CPU every step computes in float32 and must agree to
   rounding);
2. ladder: DDPO epochs of the paper's shape with the options switched on one after another, each on
   top of those before it (``LADDER``; ``--skip`` leaves steps out, the first step left is the
   reference). Every step gets its own ``Trainer`` (a fresh LoRA) and reports s/epoch and its
   phases, the speed-up on the step before and on the first, the epoch's FLOP rate against a matrix
   product's in the same precision, peak memory, the largest PPO
   log-ratio between a batch's sampling and its rescoring before any update (a precision under
   which the two passes disagree by more than the clip range, 1e-4, would stop the gradient), and
   the epochs' approx KL and clip fraction. The epoch's FLOPs are counted once, on the first step's
   warm-up epoch: the options change how the work is done, not how much, and the counter's Python
   dispatch made each counted warm-up on the H200 60-80 s longer than an epoch. (torch's counter
   gives SDPA's attention 2.4% more of the epoch than the classic matmuls: a convention, not work.)
3. after the step that reaches the profile's defaults (``bf16``): the evaluation of
   ``--eval-images`` images of one model as notebook 05 makes and scores them, then the implicit
   GPU-to-CPU synchronisations of one epoch, by source line (``torch.cuda.set_sync_debug_mode``).

A part that would not end inside the budget is skipped, and the table says so. The tables are printed
last and written, with every number, to ``--out`` (gpu_sweep.md, gpu_sweep.json) after every part.

    # one GPU lease (benchmarks/gpu_device.sh runs this with the wheels the GPU image lacks):
    python benchmarks/gpu_sweep.py --device cuda --budget 520 --out "$OUT"
    # the code path on a CPU, small:
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gpu_sweep.py --profile tiny --device cpu --skip compile
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]
import gpu_epoch  # noqa: E402

from clipcreate_lib import artifacts, config  # noqa: E402
from clipcreate_lib.ddpo import policy, precision  # noqa: E402
from clipcreate_lib.ddpo.trainer import Trainer  # noqa: E402
from clipcreate_lib.models import loaders, text_encoding  # noqa: E402


@dataclass(frozen=True)
class Options:
    """The speed options in force at one step of the ladder."""

    tf32: bool = False  # TF32 for float32 matmuls and convolutions (CUDA only)
    sdpa: bool = False  # PyTorch's scaled_dot_product_attention, else the classic matmul-softmax-matmul
    bf16: bool = False  # frozen models in bfloat16 and the UNet under bf16 autocast (CUDA only)
    batches: bool = False  # fewer, larger UNet calls: BIG_SAMPLE_BATCH images, TIMESTEPS_PER_PASS timesteps
    channels_last: bool = False  # the UNet's activations in channels_last
    compile: bool = False  # torch.compile of the UNet


# Each step switches one option on, on top of those before it; "bf16" reaches the profile's defaults.
LADDER = (
    ("baseline", "float32 models, IEEE float32 matmuls, classic attention, contiguous, eager", Options()),
    ("tf32", "+ TF32 matmuls and convolutions", Options(tf32=True)),
    ("sdpa", "+ SDPA attention", Options(tf32=True, sdpa=True)),
    ("bf16", "+ bf16 frozen models and UNet autocast (the defaults)", Options(tf32=True, sdpa=True, bf16=True)),
    (
        "batches",
        "+ sampling 16 images per UNet call, 5 timesteps per training pass",
        Options(tf32=True, sdpa=True, bf16=True, batches=True),
    ),
    (
        "channels_last",
        "+ channels_last UNet",
        Options(tf32=True, sdpa=True, bf16=True, batches=True, channels_last=True),
    ),
    (
        "compile",
        "+ torch.compile of the UNet",
        Options(tf32=True, sdpa=True, bf16=True, batches=True, channels_last=True, compile=True),
    ),
)
# The "batches" step: the epoch's sampling batches through the UNet, the VAE and the reward
# BIG_SAMPLE_BATCH images at a time (ddpo.sample_call_batches: 4 of the paper's batches of 4, with
# the noise each draws alone) and TIMESTEPS_PER_PASS of its timesteps scored per training forward.
# The same samples and gradient up to rounding (tests/ddpo/test_throughput.py); on the H200 the
# defaults' eager UNet ran at 12% of the matrix rate, as if kernel launches, not arithmetic, set
# the pace, and fewer, larger calls need fewer launches.
BIG_SAMPLE_BATCH, TIMESTEPS_PER_PASS = 16, 5
DEFAULTS_STEP = "bf16"
COMPILE_SECONDS = 240  # allowance for torch.compile's first forward and backward, in the budget


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    gpu_epoch.shape_arguments(parser)
    parser.add_argument("--eval-images", type=int, default=gpu_epoch.EVAL_IMAGES, help="evaluation images to time")
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=[name for name, _, _ in LADDER] + ["evaluation"],
        help="ladder steps (and the evaluation) to leave out; the first step left is the reference",
    )
    parser.add_argument("--budget", type=float, default=520, help="seconds after which no new part is started")
    parser.add_argument("--out", type=Path, help="folder for gpu_sweep.md and gpu_sweep.json")
    args = parser.parse_args(argv)
    gpu_epoch.check_counts(parser, args)
    return args


def step_config(args: argparse.Namespace, options: Options) -> config.Config:
    """The profile's settings with ``options``: models in bf16 (where they run on a GPU) only at bf16;
    with ``batches``, the same sampling batches about BIG_SAMPLE_BATCH images to a UNet call and up to
    TIMESTEPS_PER_PASS timesteps per training pass."""
    model_overrides = {"device": args.device, "dtype": "bfloat16" if options.bf16 else "float32"}
    ddpo_overrides = {
        **gpu_epoch.shape_overrides(args),
        "autocast": options.bf16,
        "tf32": options.tf32,
        "channels_last": options.channels_last,
        "compile": options.compile,
    }
    cfg = config.load(args.profile, models=model_overrides, ddpo=ddpo_overrides)
    if options.batches:
        d = cfg.ddpo
        d.sample_call_batches = min(d.sample_batches, max(1, BIG_SAMPLE_BATCH // d.sample_batch_size))
        d.timesteps_per_pass = min(TIMESTEPS_PER_PASS, d.sample_steps)
    return cfg


def apply(pipe, clip, options: Options, device: torch.device) -> None:
    """Put the built models into ``options``' state, either way (the Trainer then adds its LoRA, its
    autocast and, when asked, compiles). CLIP's logit scale stays float32, as ``loaders.load_clip`` keeps it."""
    processor = AttnProcessor2_0() if options.sdpa else AttnProcessor()
    pipe.unet.set_attn_processor(processor)
    pipe.vae.set_attn_processor(processor)
    for model in (pipe.text_encoder, clip):
        model.set_attn_implementation("sdpa" if options.sdpa else "eager")
    dtype = precision.unet_compute_dtype(device, options.bf16)
    if pipe.unet.dtype != dtype:
        scale = clip.logit_scale.detach().float().clone()
        for model in (pipe.unet, pipe.vae, pipe.text_encoder, clip):
            model.to(dtype)
        clip.logit_scale.data = scale
    pipe.unet.to(memory_format=torch.channels_last if options.channels_last else torch.contiguous_format)
    precision.set_fp32_precision(device, options.tf32)


@torch.no_grad()
def noise_prediction(
    pipe, latents: torch.Tensor, embeddings: torch.Tensor, options: Options, guidance_scale: float
) -> torch.Tensor:
    """The UNet's guided noise prediction at a middle timestep of the DDIM chain, float32."""
    pipe.scheduler.set_timesteps(10, device=latents.device)
    t = pipe.scheduler.timesteps[len(pipe.scheduler.timesteps) // 2]
    with precision.unet_autocast(latents.device, options.bf16)():
        return policy.guided_noise(pipe.unet, latents, t, embeddings, guidance_scale)


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float((out.double() - ref.double()).norm() / ref.double().norm())


def log_ratio_before_update(trainer: Trainer, seed: int) -> torch.Tensor:
    """|log p_train - log p_sample| of every step of one fresh sampling batch, before any update:
    each step scored again as the PPO update scores it (``Policy.passes`` and ``Policy.log_probs``:
    train mode, autograd on, the same autocast, ``timesteps_per_pass`` steps per UNet call).
    The weights are the same, so only the numerics can make them differ; PPO clips the ratio at
    1 +- ``clip_range`` (1e-4), so a precision under which they differ by more stops the gradient."""
    cfg, pipe = trainer.cfg, trainer.pipe
    generator = torch.Generator(trainer.device).manual_seed(seed)
    index = torch.arange(cfg.sample_batch_size, device=trainer.device) % len(cfg.prompts)
    prompts = trainer.policy.prompt_embeddings[index]
    pipe.unet.eval()
    with trainer.policy.autocast():
        trajectory = policy.sample(
            pipe, prompts, trainer.policy.negative_embedding, cfg.sample_steps, cfg.guidance_scale, cfg.eta, generator
        )
    pipe.unet.train()
    timesteps = trajectory.timesteps.to(trainer.device)
    # one expression per pass: its log-prob, and the forward's activations it holds, are freed before
    # the next pass, as training's backward frees them (two graphs at once were the step's peak memory)
    return torch.cat(
        [
            (
                trainer.policy.log_probs(trajectory.latents, timesteps, js, prompts).detach()
                - trajectory.log_probs[:, js].flatten()
            ).abs()
            for js in trainer.policy.passes(trajectory.timesteps)
        ]
    )


def sync_audit(trainer: Trainer) -> list[dict]:
    """One epoch with CUDA's sync debug mode warning at every implicit GPU-to-CPU synchronisation
    (a value read back, a copy to the host, a nonzero); returns them by source line, most first."""
    seen: Counter = Counter()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trainer.train_epoch()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    for w in caught:
        if "synchroniz" in str(w.message):
            seen[f"{Path(w.filename).name}:{w.lineno}"] += 1
    return [{"where": where, "count": count} for where, count in seen.most_common()]


class Sweep:
    """The results so far, written to ``out`` after every part."""

    def __init__(self, args: argparse.Namespace, device: torch.device, started: float):
        self.args, self.device, self.started = args, device, started
        self.results: dict = {
            "device": gpu_epoch.describe(device),
            "steps": [],
            "epoch_flops": None,
            "evaluation": None,
            "sync": None,
            "skipped": [],
        }

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def fits(self, seconds: float) -> bool:
        return self.elapsed() + seconds <= self.args.budget

    def save(self) -> None:
        if self.args.out is None:
            return
        self.args.out.mkdir(parents=True, exist_ok=True)
        artifacts.save_json(self.args.out / "gpu_sweep.json", self.results)
        artifacts.atomic_write(self.args.out / "gpu_sweep.md", lambda f: f.write(self.markdown().encode()))

    def markdown(self) -> str:
        r = self.results
        lines = [
            f"device: {r['device']}",
            f"shape: {r.get('shape', '')}",
            "",
            "| step | switched on | s/epoch (sampling, reward, training) | speed-up on previous | on first step "
            "| TFLOP/s (% of matmul) | peak GiB | noise rel. error | max log-ratio before update (share > clip) "
            "| epoch approx KL, clip fraction |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s in r["steps"]:
            if "epoch_seconds" not in s:
                lines.append(
                    f"| {s['name']} | {s['what']} | {s.get('note', 'not timed')} | | | | "
                    f"| {fmt(s.get('rel_error'), '.1e')} | | |"
                )
                continue
            rate = (
                f"{s['tflops']:.3g} ({s['tflops_share']:.0%})"
                if s.get("tflops") is not None
                else f"not counted (matmul {s['matmul_tflops']:.3g})"
            )
            lines.append(
                f"| {s['name']} | {s['what']} | {s['epoch_seconds']:.2f} ({s['sample_seconds']:.2f}, "
                f"{s['reward_seconds']:.2f}, {s['train_seconds']:.2f}) | {fmt(s.get('x_previous'), '.2f')} "
                f"| {fmt(s.get('x_first'), '.2f')} | {rate} | {fmt(s.get('peak_gib'), '.1f')} "
                f"| {fmt(s.get('rel_error'), '.1e')} | {s['log_ratio_max']:.1e} ({s['log_ratio_clipped']:.0%}) "
                f"| {s['approx_kl']:.1e}, {s['clipfrac']:.2f} |"
            )
        e = r["evaluation"]
        if e:
            total = e["make_seconds"] + e["score_seconds"]
            lines += [
                "",
                f"evaluation ({e['options']}): {e['images']} images of {e['steps']} steps in batches of "
                f"{e['batch']}: made in {e['make_seconds']:.1f} s, scored in {e['score_seconds']:.1f} s, "
                f"{total:.1f} s in all; {e['flops_per_image'] / 1e12:.3g} TFLOP per image, done at "
                f"{e['flops_per_image'] * e['images'] / total / 1e12:.3g} TFLOP/s",
            ]
        if r["sync"] is not None:
            where = ", ".join(f"{s['where']} x{s['count']}" for s in r["sync"]) or "none"
            lines += [
                "",
                f"implicit GPU-to-CPU synchronisations in one epoch at the defaults: "
                f"{sum(s['count'] for s in r['sync'])} ({where})",
            ]
        timed = [s for s in r["steps"] if "epoch_seconds" in s]
        if timed:
            best = min(timed, key=lambda s: s["epoch_seconds"])
            per_image = (e["make_seconds"] + e["score_seconds"]) / e["images"] if e else 0.0
            lines += [
                "",
                f"at the fastest step ({best['name']}), "
                + gpu_epoch.projection(best["epoch_seconds"], gpu_epoch.EVAL_IMAGES * per_image, 6, 100)
                + ("" if e else " (no evaluation timed in this sweep: training alone)"),
            ]
        if r.get("graph_breaks") is not None:
            breaks = r["graph_breaks"]
            lines += ["", f"graph breaks of the compiled UNet: {sum(breaks.values())} ({breaks or 'none'})"]
        if r["skipped"]:
            lines += ["", "skipped: " + "; ".join(r["skipped"])]
        lines += ["", f"sweep: {self.elapsed():.0f} s"]
        return "\n".join(lines) + "\n"


def fmt(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def one_line(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def main(argv=None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()  # the budget counts the models' building too
    ladder = [(name, what, options) for name, what, options in LADDER if name not in args.skip]
    cfg = step_config(args, Options())
    pipe = loaders.load_stable_diffusion(cfg)
    reward, clip, processor, classifier = gpu_epoch.style_reward(cfg)
    built = Built(pipe, reward, clip, processor, classifier)
    size = args.size or pipe.unet.config.sample_size * pipe.vae_scale_factor
    gpu_epoch.set_size(pipe, size)
    device = pipe.unet.device
    sweep = Sweep(args, device, started)
    d = cfg.ddpo
    sweep.results["shape"] = (
        f"{args.profile}, {size} px, {d.sample_batches} x {d.sample_batch_size} samples per "
        f"epoch, {d.sample_steps} DDIM steps, guidance {d.guidance_scale}, train batch "
        f"{d.train_batch_size}, {args.repeats} timed epoch(s) per step after a warm-up"
    )

    seed = int(time.time())  # fresh inputs every run; the same for every step of it
    check(sweep, built, ladder, d, seed)

    # the ladder; the defaults' step is followed by the evaluation and the sync audit
    previous = None
    for row, (name, _, options) in zip(sweep.results["steps"], ladder):
        estimate = (1 + args.repeats) * (previous["epoch_seconds"] * 1.5 if previous else 0)
        estimate += COMPILE_SECONDS if options.compile else 0
        if not sweep.fits(estimate):
            sweep.results["skipped"].append(
                f"{name} and after: not started at {sweep.elapsed():.0f} s, needing about "
                f"{estimate:.0f} s of a {args.budget:.0f} s budget"
            )
            for later in sweep.results["steps"][sweep.results["steps"].index(row) :]:
                later["note"] = "skipped (budget)"
            break
        try:
            time_step(sweep, built, row, name, options, previous, seed)
        except Exception as error:  # one lease, one try: a step that fails is reported, the rest still run
            row["note"] = f"failed: {one_line(error)}"
            print(f"{name}: {row['note']}", flush=True)
            traceback.print_exc()
        else:
            previous = row
        if "note" in row:  # out of the except block, the failed step's frames (its activations) can go
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
        if options.compile:
            break  # the last step: a compiled UNet is not turned back
        if getattr(pipe.unet, "peft_config", None):
            pipe.unet.unload_lora()  # the plain UNet again: the next step's Trainer adds its own LoRA
    sweep.save()
    print()
    print(sweep.markdown(), end="")


def check(sweep: Sweep, built: Built, ladder: list, d: config.DdpoConfig, seed: int) -> None:
    """Part 1: one batch of fresh random latents through the UNet in every step's state (but the
    compiled one), each against the first step's output; a row per step in ``sweep.results``."""
    pipe, device = built.pipe, sweep.device
    shape = (
        d.sample_batch_size,
        pipe.unet.config.in_channels,
        pipe.unet.config.sample_size,
        pipe.unet.config.sample_size,
    )
    latents = torch.randn(shape, generator=torch.Generator(device).manual_seed(seed), device=device)
    prompts = text_encoding.encode_prompts(pipe, [d.prompts[i % len(d.prompts)] for i in range(d.sample_batch_size)])
    embeddings = policy.condition(text_encoding.encode_prompts(pipe, [""]), prompts, d.guidance_scale)
    reference = None
    for name, what, options in ladder:
        row = {"name": name, "what": what}
        if not options.compile:
            apply(pipe, built.clip, options, device)
            noise = noise_prediction(pipe, latents, embeddings, options, d.guidance_scale)
            reference = noise if reference is None else reference
            row["rel_error"] = relative_error(noise, reference)
        sweep.results["steps"].append(row)
    sweep.save()


@dataclass
class Built:
    """The models a sweep builds once, and the training reward on them."""

    pipe: object
    reward: object
    clip: object
    processor: object
    classifier: object


def time_step(
    sweep: Sweep, built: Built, row: dict, name: str, options: Options, previous: dict | None, seed: int
) -> None:
    """One step of the ladder: a Trainer with ``options``, the log-ratio before any update, the timed
    epochs; at the defaults also the evaluation and the sync audit. Fills ``row``."""
    args, device, pipe = sweep.args, sweep.device, built.pipe
    step_cfg = step_config(args, options)
    apply(pipe, built.clip, options, device)
    with tempfile.TemporaryDirectory() as out_dir:
        trainer = Trainer(
            pipe, built.reward, step_cfg.ddpo, Path(out_dir), run={"benchmark": "gpu_sweep"}, progress=False
        )
        log_ratio = log_ratio_before_update(trainer, seed)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)  # the peak of the epochs, as gpu_epoch's
        count = sweep.results["epoch_flops"] is None and not options.compile
        warmup, rows = gpu_epoch.time_epochs(trainer, args.repeats, count_flops=count)
        if count:
            sweep.results["epoch_flops"] = warmup["flops"]
        row.update(
            measure(warmup, rows, device, options, previous, sweep.results["steps"][0], sweep.results["epoch_flops"]),
            log_ratio_max=float(log_ratio.max()),
            log_ratio_clipped=float((log_ratio > step_cfg.ddpo.clip_range).float().mean()),
        )
        if options.compile:  # dynamo's count of the compiled UNet's graph breaks (LoRA layers included)
            sweep.results["graph_breaks"] = {str(k): v for k, v in torch._dynamo.utils.counters["graph_break"].items()}
        print(f"{name}: {row['epoch_seconds']:.2f} s/epoch", flush=True)
        sweep.save()
        if name == DEFAULTS_STEP:
            try:
                defaults_extras(sweep, trainer, built, step_cfg, row)
            except Exception as error:
                sweep.results["skipped"].append(f"evaluation or sync audit failed: {one_line(error)}")
                traceback.print_exc()


def measure(
    warmup: dict,
    rows: list[dict],
    device: torch.device,
    options: Options,
    previous: dict | None,
    first: dict,
    flops: int | None,
) -> dict:
    """One step's numbers: medians of the timed epochs, ratios to the step before and to the first
    step timed, the rate of the epoch's ``flops`` and peak memory."""
    median = {
        key: statistics.median(r[key] for r in rows)
        for key in ("epoch_seconds", "sample_seconds", "reward_seconds", "train_seconds", "approx_kl", "clipfrac")
    }
    ceiling = gpu_epoch.matmul_tflops(device, precision.unet_compute_dtype(device, options.bf16))
    tflops = flops / median["epoch_seconds"] / 1e12 if flops is not None else None
    return {
        **median,
        "warmup_seconds": warmup["epoch_seconds"],
        "flops": flops,
        "tflops": tflops,
        "matmul_tflops": ceiling,
        "tflops_share": tflops / ceiling if tflops is not None else None,
        "peak_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
        "x_previous": previous["epoch_seconds"] / median["epoch_seconds"] if previous else None,
        "x_first": first["epoch_seconds"] / median["epoch_seconds"] if "epoch_seconds" in first else None,
    }


def defaults_extras(sweep: Sweep, trainer: Trainer, built: Built, cfg: config.Config, row: dict) -> None:
    """At the profile's defaults: the evaluation of one model, then the sync audit (CUDA only)."""
    args = sweep.args
    if "evaluation" not in args.skip:
        evaluate(sweep, trainer, built, cfg, row)
    if sweep.device.type == "cuda":
        if sweep.fits(1.5 * row["epoch_seconds"]):
            sweep.results["sync"] = sync_audit(trainer)
        else:
            sweep.results["skipped"].append(f"sync audit: not started at {sweep.elapsed():.0f} s (budget)")


def evaluate(sweep: Sweep, trainer: Trainer, built: Built, cfg: config.Config, row: dict) -> None:
    """The evaluation's seconds, if they fit: estimated from the epoch's sampling seconds per image and
    step, with 1.5 for the FLOP-counted warm-up batch and the scoring (on the H200 an evaluation
    step per image took 0.66 of a sampling one, at batch 8 against 4)."""
    args = sweep.args
    per_image_step = row["sample_seconds"] / (
        cfg.ddpo.sample_batches * cfg.ddpo.sample_batch_size * cfg.ddpo.sample_steps
    )
    estimate = 1.5 * per_image_step * args.eval_steps * (args.eval_images + args.eval_batch)
    if not sweep.fits(estimate):
        sweep.results["skipped"].append(
            f"evaluation: not started at {sweep.elapsed():.0f} s, needing about "
            f"{estimate:.0f} s of a {args.budget:.0f} s budget"
        )
        return
    make, score, flops = gpu_epoch.time_evaluation(
        built.pipe,
        cfg,
        built.clip,
        built.processor,
        built.classifier,
        args.eval_images,
        args.eval_batch,
        args.eval_steps,
        trainer.policy.autocast,
    )
    sweep.results["evaluation"] = {
        "images": args.eval_images,
        "batch": args.eval_batch,
        "steps": args.eval_steps,
        "make_seconds": make,
        "score_seconds": score,
        "flops_per_image": flops,
        "options": ", ".join(gpu_epoch.options(cfg, sweep.device, False)),
    }
    sweep.save()


if __name__ == "__main__":
    main()
