"""One epoch's samples as the update needs them: DDIM trajectories with their log-probs, the prompt of
each, and every reward term, gathered batch by batch with the seconds spent sampling and scoring."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from clipcreate_lib.config import DdpoConfig
from clipcreate_lib.ddpo.noise import draw_noise, skip_noise
from clipcreate_lib.ddpo.policy import Policy
from clipcreate_lib.ddpo.processes import Processes

RewardFn = Callable[[torch.Tensor, Sequence[str]], dict[str, torch.Tensor]]


@dataclass
class Rollout:
    latents: torch.Tensor  # (images, steps + 1, C, h, w): the input of every step, then the last output
    log_probs: torch.Tensor  # (images, steps): each step's log-prob under the sampling weights
    timesteps: torch.Tensor  # (steps,)
    prompt_index: torch.Tensor  # (images,): index into the training prompts
    terms: dict[str, torch.Tensor]  # each reward term (images,), left on its device
    seconds: dict[str, float]  # sample_seconds, reward_seconds


def clock(device: torch.device) -> float:
    """Seconds on the wall clock, once a GPU has finished the work queued so far."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def sample_epoch(
    policy: Policy,
    reward_fn: RewardFn,
    cfg: DdpoConfig,
    order_rng: torch.Generator,
    noise_rng: torch.Generator,
    tick: Callable[[], None] = lambda: None,
    mine: range | None = None,
) -> Rollout:
    """The batches ``mine`` (default: all) of the epoch's ``cfg.sample_batches`` batches of
    ``cfg.sample_batch_size`` chains, each image's prompt drawn from ``order_rng`` and its noise from
    ``noise_rng``. Every batch's prompts and noise are drawn, those of batches not ``mine`` then
    dropped, so a batch's images do not depend on which are sampled; ``cfg.sample_call_batches``
    consecutive batches of ``mine`` are sampled and scored together (``sample_together``). ``tick``
    is called after every batch."""
    parts, seconds = [], {"sample_seconds": 0.0, "reward_seconds": 0.0}
    policy.pipe.unet.eval()
    waiting = []  # (prompt index, noise) of the batches drawn but not sampled yet
    for number in range(cfg.sample_batches):
        index = torch.randint(len(cfg.prompts), (cfg.sample_batch_size,), generator=order_rng)
        if mine is not None and number not in mine:
            skip_noise(policy.pipe, len(index), policy.steps, noise_rng)
            tick()
            continue
        waiting.append((index, draw_noise(policy.pipe, len(index), policy.steps, noise_rng, noise_rng.device)))
        last = number + 1 == cfg.sample_batches or (mine is not None and number + 1 not in mine)
        if len(waiting) == cfg.sample_call_batches or last:
            parts.append(sample_together(policy, reward_fn, cfg, waiting, seconds))
            for _ in waiting:
                tick()
            waiting = []
    return Rollout(
        torch.cat([p[0].latents for p in parts]),
        torch.cat([p[0].log_probs for p in parts]),
        parts[0][0].timesteps,
        torch.cat([p[1] for p in parts]),
        {k: torch.cat([p[2][k] for p in parts]) for k in parts[0][2]},
        seconds,
    )


def sample_together(
    policy: Policy, reward_fn: RewardFn, cfg: DdpoConfig, batches: list[tuple], seconds: dict[str, float]
) -> tuple:
    """(trajectory, prompt index, reward terms) of ``batches`` (prompt index, noise) sampled in one UNet
    call per step, decoded and scored in one call each: the samples each batch has alone, up to the
    float rounding of a larger batch. Adds the seconds spent sampling and scoring to ``seconds``."""
    device = policy.pipe.unet.device
    index = torch.cat([b[0] for b in batches])
    start = clock(device)
    trajectory = policy.sample(index, None, torch.cat([b[1] for b in batches], dim=1))
    middle = clock(device)
    terms = reward_fn(trajectory.images, [cfg.prompts[i] for i in index.tolist()])
    seconds["sample_seconds"] += middle - start
    seconds["reward_seconds"] += clock(device) - middle
    return trajectory, index, {k: v.detach().float() for k, v in terms.items()}


def gathered(rollout: Rollout, processes: Processes) -> Rollout:
    """The whole epoch from every process's share of it, in the order of its batches (the shares are
    contiguous and gathered in process order); the seconds stay this process's."""
    if processes.count == 1:
        return rollout
    return dataclasses.replace(
        rollout,
        latents=processes.gather(rollout.latents),
        log_probs=processes.gather(rollout.log_probs),
        prompt_index=processes.gather(rollout.prompt_index),
        terms={name: processes.gather(values) for name, values in rollout.terms.items()},
    )
