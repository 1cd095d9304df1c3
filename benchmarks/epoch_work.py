"""Where a DDPO epoch's work goes, and what each change that removes work without changing results buys.

Part 1, ``torch.profiler`` on one epoch (after a warm-up epoch): per phase (sampling with its VAE
decode, the reward, training with its optimiser steps) the operators that do the work (leaf aten ops,
about one GPU kernel launch each) and their share of the epoch's operator time. An eager UNet's launch
count per phase is what a GPU pays in launch overhead, whatever the device this runs on.

Part 2, before/after in this one process, on the same models and inputs, alternated ``--repeats`` times
(the median is printed): each change's seconds and leaf-op count with its ratio (after / before), and
how far its result is from before's (the largest absolute difference; 0 = bit-equal):

- ``sample_call_batches``: the epoch's sampling batches through the UNet, the VAE decoder and the reward
  together rather than one by one (the same prompts and noise);
- ``timesteps_per_pass``: a train batch's timesteps through the UNet in one forward and backward rather
  than one call per timestep (the same gradient, the difference is the gradient's);
- fused AdamW (one kernel for all parameters, as the trainer uses on CUDA) against the default.

Part 3, the options that change the experiment (off by default): ``timestep_fraction`` 0.5 and no
guidance in training, each on one train batch against the paper's algorithm: seconds, the gradient's
cosine with the paper's (``timestep_fraction`` over ``--repeats`` draws), and the clip fraction.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/epoch_work.py --profile tiny --device cpu
    .venv/bin/python benchmarks/epoch_work.py --profile paper-shaped --device cpu --size 64 --sample-batches 2 \\
        --sample-batch-size 2 --train-batch-size 2 --steps 2 --repeats 1
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gpu_epoch  # noqa: E402

from clipcreate_lib import config  # noqa: E402
from clipcreate_lib.ddpo import rollout, update  # noqa: E402
from clipcreate_lib.ddpo.trainer import Trainer  # noqa: E402
from clipcreate_lib.models import loaders  # noqa: E402

PHASES = ("sampling", "reward", "training")


def marked(name: str, fn: Callable) -> Callable:
    """``fn`` inside a profiler range called ``name``."""

    def run(*args, **kwargs):
        with record_function(name):
            return fn(*args, **kwargs)

    return run


def leaf_ops(prof) -> list:
    """The profiled aten operators that call no other: the ones that do the work."""
    return [e for e in prof.events() if e.name.startswith("aten::") and not e.cpu_children]


def phase_table(prof) -> dict[str, tuple[int, float]]:
    """Per phase, (leaf ops, their CPU microseconds) of the leaf ops inside its ranges."""
    ranges = {p: [e.time_range for e in prof.events() if e.name == p] for p in PHASES}
    table = {p: [0, 0.0] for p in (*PHASES, "other")}
    for op in leaf_ops(prof):
        phase = next(
            (p for p, rs in ranges.items() if any(r.start <= op.time_range.start <= r.end for r in rs)), "other"
        )
        table[phase][0] += 1
        table[phase][1] += op.cpu_time_total
    return {p: (n, us) for p, (n, us) in table.items()}


def profile_epoch(trainer: Trainer) -> None:
    trainer.policy.sample = marked("sampling", trainer.policy.sample)
    trainer.reward_fn = marked("reward", trainer.reward_fn)
    ppo_update = update.ppo_update
    update.ppo_update = marked("training", ppo_update)
    trainer.train_epoch()  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        row = trainer.train_epoch()
    update.ppo_update = ppo_update
    table = phase_table(prof)
    total = sum(us for _, us in table.values())
    print(f"profiled epoch: {row['seconds']:.2f} s wall; leaf ops (about one GPU kernel launch each) per phase:")
    for phase, (count, us) in table.items():
        print(f"  {phase:9s} {count:7d} ops, {us / 1e6:7.2f} s of operator time ({100 * us / total:5.1f}%)")


def counted(fn: Callable) -> tuple[object, float, int]:
    """(result, seconds, leaf ops) of ``fn()``; the ops are counted in a second, profiled run."""
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return result, seconds, len(leaf_ops(prof))


def compare(name: str, before: Callable, after: Callable, difference: Callable, repeats: int) -> None:
    """Time ``before`` and ``after`` alternately; print their medians, op counts, ratios and difference."""
    runs = {"before": [], "after": []}
    for _ in range(repeats):
        for label, fn in (("before", before), ("after", after)):
            runs[label].append(counted(fn))
    (a, sa, na), (b, sb, nb) = (
        (r[-1][0], statistics.median(x[1] for x in r), r[-1][2]) for r in (runs["before"], runs["after"])
    )
    print(
        f"{name}: {sa:.3f} s -> {sb:.3f} s (ratio {sb / sa:.3f}), {na} -> {nb} leaf ops (ratio {nb / na:.3f}); "
        f"largest difference {difference(a, b):.2e}"
    )


def epoch_samples(trainer: Trainer, together: int) -> Callable:
    cfg = copy.copy(trainer.cfg)
    cfg.sample_call_batches = together

    def sample():
        order, noise = torch.Generator().manual_seed(1), torch.Generator(trainer.device).manual_seed(2)
        return rollout.sample_epoch(trainer.policy, trainer.reward_fn, cfg, order, noise)

    return sample


def sampling_difference(a: rollout.Rollout, b: rollout.Rollout) -> float:
    pairs = [(a.latents, b.latents), (a.log_probs, b.log_probs), *((a.terms[k], b.terms[k]) for k in a.terms)]
    return max(float((x - y).abs().max()) for x, y in pairs)


def train_gradient(trainer: Trainer, epoch: rollout.Rollout, per_pass: int, **changes) -> Callable:
    """The gradient of one train batch of ``epoch``, its timesteps ``per_pass`` to a UNet call, under
    the trainer's settings with ``changes`` (``timestep_fraction`` draws its timesteps from seed 4)."""
    policy, cfg = copy.copy(trainer.policy), dataclasses.replace(trainer.cfg, **changes)
    policy.per_pass = per_pass
    policy.train_guidance_scale = cfg.guidance_scale if cfg.train_guidance else 1.0
    rows = torch.arange(cfg.train_batch_size)
    batch = {
        "latents": epoch.latents[rows],
        "log_probs": epoch.log_probs[rows],
        "prompt_index": epoch.prompt_index[rows],
        "advantages": torch.linspace(-1, 1, len(rows)),
    }
    rng = torch.Generator().manual_seed(4)

    def gradient():
        trainer.state.optimizer.zero_grad(set_to_none=True)
        sums = {k: torch.zeros((), dtype=torch.float64) for k in ("loss", "approx_kl", "clipfrac")}
        counts = {"scored": 0, "skipped_terms": 0, "skipped_steps": 0}
        passes, trained = update.train_passes(policy.passes(epoch.timesteps), len(epoch.timesteps), cfg, per_pass, rng)
        update.accumulate(policy, cfg, batch, 1.0, epoch.timesteps, passes, trainer.processes, sums, counts, trained)
        grad = torch.cat([p.grad.flatten() for p in trainer.state.params.values() if p.grad is not None])
        return grad, float(sums["clipfrac"]) / max(counts["scored"], 1)

    return gradient


def effect(name: str, before: Callable, after: Callable, repeats: int) -> None:
    """What an option that changes the experiment does to one train batch: its seconds, the gradient's
    cosine with the paper's and its norm ratio, and the clip fraction before any update."""
    seconds = {"before": [], "after": []}
    cosines, norms = [], []
    for _ in range(repeats):
        (a, clip_a), sa, _ = counted(before)
        (b, clip_b), sb, _ = counted(after)
        seconds["before"].append(sa)
        seconds["after"].append(sb)
        cosines.append(float(torch.nn.functional.cosine_similarity(a, b, dim=0)))
        norms.append(float(b.norm() / a.norm()))
    sa, sb = (statistics.median(seconds[k]) for k in ("before", "after"))
    print(
        f"{name}: {sa:.3f} s -> {sb:.3f} s (ratio {sb / sa:.3f}); gradient cosine with the paper's "
        f"{statistics.mean(cosines):.3f} (min {min(cosines):.3f}), norm ratio {statistics.mean(norms):.3f}; "
        f"clip fraction before any update {clip_a:.3f} -> {clip_b:.3f}"
    )


def adamw_step(params: dict, fused: bool | None) -> Callable:
    """One AdamW step from the same weights and gradients: the weights after it."""
    start = {k: p.detach().clone() for k, p in params.items()}
    grads = {k: torch.randn(p.shape, generator=torch.Generator().manual_seed(3)).to(p) for k, p in params.items()}

    def step():
        copies = [start[k].clone().requires_grad_() for k in params]
        for c, k in zip(copies, params):
            c.grad = grads[k]
        torch.optim.AdamW(copies, lr=3e-4, weight_decay=1e-4, fused=fused).step()
        return torch.cat([c.detach().flatten() for c in copies])

    return step


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    gpu_epoch.shape_arguments(parser)
    args = parser.parse_args(argv)
    args.repeats = max(args.repeats, 1)
    cfg = config.load(args.profile, models={"device": args.device}, ddpo=gpu_epoch.shape_overrides(args))
    pipe = loaders.load_stable_diffusion(cfg)
    reward, *_ = gpu_epoch.style_reward(cfg)
    gpu_epoch.set_size(pipe, args.size or pipe.unet.config.sample_size * pipe.vae_scale_factor)
    d = cfg.ddpo
    print(
        f"profile {args.profile} on {loaders.resolve_device(cfg.models)}, torch threads {torch.get_num_threads()}: "
        f"{d.sample_batches} x {d.sample_batch_size} images per epoch, {d.sample_steps} steps, guidance "
        f"{d.guidance_scale}, train batch {d.train_batch_size}, {d.timesteps_per_pass} timestep(s) per pass"
    )
    with tempfile.TemporaryDirectory() as out_dir:
        trainer = Trainer(pipe, reward, d, Path(out_dir), run={"benchmark": "epoch_work"}, progress=False)
        profile_epoch(trainer)
        print(f"before/after, median of {args.repeats} alternated run(s):")
        with torch.no_grad():
            compare(
                f"sample_call_batches 1 -> {d.sample_batches} (sampling and reward of an epoch)",
                epoch_samples(trainer, 1),
                epoch_samples(trainer, d.sample_batches),
                sampling_difference,
                args.repeats,
            )
        epoch = epoch_samples(trainer, 1)()
        compare(
            f"timesteps_per_pass 1 -> {d.sample_steps} (one train batch's gradient)",
            train_gradient(trainer, epoch, 1),
            train_gradient(trainer, epoch, d.sample_steps),
            lambda a, b: float((a[0] - b[0]).abs().max() / b[0].abs().max()),
            args.repeats,
        )
        print("options that change the experiment (off by default), on one train batch of the first epoch:")
        paper = train_gradient(trainer, epoch, d.timesteps_per_pass)
        for name, changes in (
            ("timestep_fraction 0.5", {"timestep_fraction": 0.5}),
            ("no guidance in training", {"train_guidance": False}),
        ):
            effect(name, paper, train_gradient(trainer, epoch, d.timesteps_per_pass, **changes), args.repeats)
        params = trainer.state.params
        compare("AdamW default -> fused (one step)", adamw_step(params, None), adamw_step(params, True),
                lambda a, b: float((a - b).abs().max()), args.repeats)  # fmt: skip


if __name__ == "__main__":
    main()
