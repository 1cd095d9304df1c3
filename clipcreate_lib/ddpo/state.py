"""Everything a DDPO run carries from one epoch to the next, and so everything its checkpoint holds
besides the run's description: the trained weights, the optimiser and its schedule, the per-prompt
reward statistics, both random generators, and the epochs done with their metrics and timings."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from clipcreate_lib.config import DdpoConfig
from clipcreate_lib.ddpo.ppo import PerPromptStatTracker
from clipcreate_lib.schedules import warmup_schedule


@dataclass
class TrainingState:
    params: dict[str, torch.nn.Parameter]  # the trainable weights (LoRA adapters or the whole UNet)
    optimizer: torch.optim.Optimizer
    lr_schedule: torch.optim.lr_scheduler.LRScheduler  # stepped once per train batch
    tracker: PerPromptStatTracker
    order_rng: torch.Generator  # the prompts of each sample and the shuffling of train batches
    noise_rng: torch.Generator  # the sampling noise, on the UNet's device
    epoch: int = 0
    history: list[dict] = field(default_factory=list)  # one metrics row per epoch done
    timings: list[dict] = field(default_factory=list)  # the seconds each epoch took, apart: they differ by run

    @classmethod
    def new(cls, params: dict[str, torch.nn.Parameter], cfg: DdpoConfig, device: torch.device) -> TrainingState:
        """A run's state before its first epoch: AdamW with the linear warm-up, generators from ``cfg.seed``.
        On CUDA AdamW is fused (one kernel for all parameters, not several per parameter)."""
        optimizer = torch.optim.AdamW(
            params.values(),
            lr=cfg.learning_rate,
            betas=(cfg.adam_beta1, cfg.adam_beta2),
            weight_decay=cfg.weight_decay,
            eps=cfg.adam_epsilon,
            fused=device.type == "cuda" or None,
        )
        return cls(
            params,
            optimizer,
            warmup_schedule(optimizer, cfg.lr_warmup_steps),
            PerPromptStatTracker(cfg.stat_buffer_size, cfg.stat_min_count),
            torch.Generator().manual_seed(cfg.seed),
            torch.Generator(device).manual_seed(cfg.seed),
        )

    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "history": self.history,
            "timings": self.timings,
            "weights": {name: p.detach().cpu() for name, p in self.params.items()},
            "optimizer": self.optimizer.state_dict(),
            "lr_schedule": self.lr_schedule.state_dict(),
            "tracker": self.tracker.state_dict(),
            "rng": {"order": self.order_rng.get_state(), "noise": self.noise_rng.get_state()},
        }

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            for name, p in self.params.items():
                p.copy_(state["weights"][name])
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr_schedule.load_state_dict(state["lr_schedule"])
        self.tracker.load_state_dict(state["tracker"])
        self.order_rng.set_state(state["rng"]["order"])
        self.noise_rng.set_state(state["rng"]["noise"])
        self.epoch, self.history, self.timings = state["epoch"], state["history"], state["timings"]
