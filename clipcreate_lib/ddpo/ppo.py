"""PPO's side of DDPO: the clipped surrogate loss and the per-prompt reward normalisation."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
import torch


def ppo_loss(
    log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    clip_range: float,
    adv_clip_max: float,
    log_ratio_limit: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate, mean over the batch: max(-A r, -A clip(r, 1 - e, 1 + e)), with
    A clipped to +-adv_clip_max and r = exp(clamped log-ratio). Returns (loss, approx_kl, clipfrac).

    The clamp bounds the log-ratio's value only; its gradient passes as if unclamped. A hard clamp
    would zero exactly the gradient PPO needs most: with A < 0 and a ratio far above 1 the unclipped
    term -A r is the one taken, and its gradient pulls the log-prob back down."""
    advantages = advantages.clamp(-adv_clip_max, adv_clip_max)
    raw = log_prob - old_log_prob
    log_ratio = raw.detach().clamp(-log_ratio_limit, log_ratio_limit) + (raw - raw.detach())
    ratio = log_ratio.exp()
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip_range, 1.0 + clip_range)
    loss = torch.maximum(unclipped, clipped).mean()
    approx_kl = 0.5 * (log_ratio.detach() ** 2).mean()
    clipfrac = ((ratio.detach() - 1.0).abs() > clip_range).float().mean()
    return loss, approx_kl, clipfrac


class PerPromptStatTracker:
    """Advantages (r - mean) / (std + 1e-6) with each prompt's own recent rewards (the last
    ``buffer_size``), or the whole batch's while a prompt has fewer than ``min_count``."""

    def __init__(self, buffer_size: int, min_count: int):
        self.buffer_size, self.min_count = buffer_size, min_count
        self.buffers: dict[str, deque] = {}

    def update(self, prompts: Sequence[str], rewards: np.ndarray) -> np.ndarray:
        prompts, rewards = np.asarray(prompts), np.asarray(rewards, dtype=np.float64)
        advantages = np.empty_like(rewards)
        for prompt in np.unique(prompts):
            mine = prompts == prompt
            buffer = self.buffers.setdefault(str(prompt), deque(maxlen=self.buffer_size))
            buffer.extend(rewards[mine])
            pool = rewards if len(buffer) < self.min_count else np.asarray(buffer)
            advantages[mine] = (rewards[mine] - pool.mean()) / (pool.std() + 1e-6)
        return advantages

    def state_dict(self) -> dict:
        return {prompt: list(buffer) for prompt, buffer in self.buffers.items()}

    def load_state_dict(self, state: dict) -> None:
        self.buffers = {p: deque(values, maxlen=self.buffer_size) for p, values in state.items()}


def advantages(rewards: np.ndarray, prompts: Sequence[str], tracker: PerPromptStatTracker | None) -> np.ndarray:
    """Rewards normalised into advantages: per prompt by ``tracker``, or over the batch when it is None."""
    if tracker is not None:
        return tracker.update(prompts, rewards)
    return (rewards - rewards.mean()) / (rewards.std() + 1e-8)
