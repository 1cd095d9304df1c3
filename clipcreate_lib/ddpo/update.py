"""DDPO's update on one epoch of samples: the PPO-clipped loss of every timestep of every trajectory,
accumulated over a train batch into one optimiser step."""

from __future__ import annotations

from collections.abc import Callable

import torch

from clipcreate_lib.config import DdpoConfig
from clipcreate_lib.ddpo.policy import Policy
from clipcreate_lib.ddpo.ppo import ppo_loss
from clipcreate_lib.ddpo.processes import Processes
from clipcreate_lib.ddpo.state import TrainingState


def ppo_update(
    policy: Policy,
    state: TrainingState,
    cfg: DdpoConfig,
    batch: dict,
    timesteps: torch.Tensor,
    processes: Processes,
    tick: Callable[[], None] = lambda: None,
) -> dict:
    """``cfg.inner_epochs`` passes over ``batch`` (latents, log_probs, prompt_index, advantages of the
    epoch's trajectories), one optimiser step per train batch of ``train_batch_size`` shuffled
    samples, every timestep's loss accumulated into it (``accumulate``); a step whose gradient norm is
    not finite is skipped. Several processes score a slice of each train batch each, and the backward
    through DDP averages their gradients. Returns the epoch's mean loss, approx KL and clip fraction
    and the counts of skipped timestep terms and steps; ``tick`` is called after every optimiser step."""
    policy.unet.train()
    device = policy.pipe.unet.device
    passes = policy.passes(timesteps)
    batch = {name: values.to(device) for name, values in batch.items()}
    timesteps = timesteps.to(device)
    # float64 on the device: the same sums as Python floats, without a read-back per pass
    sums = {name: torch.zeros((), dtype=torch.float64, device=device) for name in ("loss", "approx_kl", "clipfrac")}
    counts = {"scored": 0, "skipped_terms": 0, "skipped_steps": 0}
    for _ in range(cfg.inner_epochs):
        order = torch.randperm(len(batch["advantages"]), generator=state.order_rng).to(device)
        for rows in order.split(cfg.train_batch_size):
            mine, weight = processes.rows(rows)
            mine = {name: values[mine] for name, values in batch.items()}
            chosen, trained = train_passes(passes, len(timesteps), cfg, policy.per_pass, state.order_rng)
            accumulate(policy, cfg, mine, weight, timesteps, chosen, processes, sums, counts, trained)
            optimiser_step(state, cfg, counts)
            tick()
    scored = counts.pop("scored")
    sums = {name: processes.mean(total) for name, total in sums.items()}  # each process's are of its slices
    return {**{name: float(total) / scored if scored else float("nan") for name, total in sums.items()}, **counts}


def optimiser_step(state: TrainingState, cfg: DdpoConfig, counts: dict) -> None:
    """One step on the gradients accumulated, norm-clipped, or none (counted) when their norm is not
    finite; then the gradients are cleared and the learning-rate schedule moves on."""
    norm = torch.nn.utils.clip_grad_norm_(list(state.params.values()), cfg.max_grad_norm)
    if torch.isfinite(norm):
        state.optimizer.step()
    else:
        counts["skipped_steps"] += 1
    state.optimizer.zero_grad(set_to_none=True)
    state.lr_schedule.step()


def accumulate(
    policy: Policy,
    cfg: DdpoConfig,
    mine: dict,
    weight: float,
    timesteps: torch.Tensor,
    passes: list[torch.Tensor],
    processes: Processes,
    sums: dict,
    counts: dict,
    trained: int | None = None,
) -> None:
    """Backpropagate one train batch's PPO loss, the mean over all its timesteps, pass by pass:
    ``timesteps_per_pass`` timesteps share one UNet forward and backward (the same gradient, fewer
    calls). ``mine`` is this process's slice of the batch, its mean loss weighted by ``weight``
    (``Processes.rows``). Timesteps without a log-prob count as skipped, as do those of a pass whose
    loss is not finite in some process; every backward goes through ``policy.unet`` (DDP on several
    processes), so the gradients accumulated so far are averaged whichever pass is the last one run.
    ``trained`` (default: every timestep) is how many timesteps the mean is over (``timestep_fraction``)."""
    steps = trained or len(timesteps)
    counts["skipped_terms"] += steps - sum(len(js) for js in passes)
    prompts = policy.prompt_embeddings[mine["prompt_index"]]
    for js in passes:
        k = len(js)
        log_prob = policy.log_probs(mine["latents"], timesteps, js, prompts)
        loss, kl, clipfrac = ppo_loss(
            log_prob,
            mine["log_probs"][:, js].flatten(),
            mine["advantages"].repeat_interleave(k),
            cfg.clip_range,
            cfg.adv_clip_max,
            cfg.log_ratio_limit,
        )
        if not processes.all_finite(loss):  # a read-back, needed to decide whether to step back
            counts["skipped_terms"] += k
            continue
        (loss * weight * k / steps).backward()  # the mean over all timesteps, as if each had its own pass
        for name, value in (("loss", loss), ("approx_kl", kl), ("clipfrac", clipfrac)):
            sums[name] += value.detach().double() * weight * k
        counts["scored"] += k


def train_passes(
    passes: list[torch.Tensor], steps: int, cfg: DdpoConfig, per_pass: int, rng: torch.Generator
) -> tuple[list[torch.Tensor], int]:
    """The passes one train batch trains on and how many of the ``steps`` timesteps its mean is over:
    all of ``passes`` at the paper's ``timestep_fraction`` 1, else that fraction of the steps in them
    drawn at random from ``rng`` (not the paper's algorithm), in order and ``per_pass`` to a UNet call."""
    trained = max(1, int(steps * cfg.timestep_fraction))
    if trained == steps:
        return passes, trained
    usable = torch.cat(passes)
    chosen = usable[torch.randperm(len(usable), generator=rng)[:trained].to(usable.device)].sort().values
    return list(chosen.split(per_pass)), trained
