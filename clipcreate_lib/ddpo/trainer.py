"""DDPO (Black et al. 2023): the DDIM sampling chain as an MDP, trained with a PPO-clipped policy gradient.

trl removed its DDPOTrainer after 0.23.1, so this is our own small core, checked against trl 0.23.1
in ``tests/ddpo/test_trl_parity.py``. One epoch: sample images while recording every DDIM latent and
the log-probability of each step (``policy``), score them, turn rewards into advantages (per
prompt, ``ppo``), then for each training batch accumulate the PPO loss of every timestep into one
optimiser step.

The last DDIM steps have a tiny variance at eta = 1, so their log-ratios can be huge: the ratio is
computed from a log-ratio whose value is clamped (not its gradient), a step with zero variance (no
log-prob at all) is left out, and a non-finite loss or gradient skips its update instead of reaching
the weights. Every timestep of a train batch goes into the same optimiser step, so the order of
timesteps (which trl shuffles) does not matter and is kept.

On a GPU the loop keeps its tensors on the device and reads values back only where a decision needs
them (a finite loss, a finite gradient norm) and once per epoch for the stat tracker and the metrics;
each metrics row records the seconds spent sampling, scoring and training.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import pandas as pd
import torch
from diffusers import StableDiffusionPipeline
from peft import LoraConfig

from clipcreate_lib.config import DdpoConfig
from clipcreate_lib.ddpo import ppo, records, update
from clipcreate_lib.ddpo.policy import Policy, decode
from clipcreate_lib.ddpo.precision import set_fp32_precision
from clipcreate_lib.ddpo.processes import Processes
from clipcreate_lib.ddpo.rollout import RewardFn, Rollout, clock, gathered, sample_epoch
from clipcreate_lib.ddpo.state import TrainingState
from clipcreate_lib.models.builders import seeded
from clipcreate_lib.progress import bar
from clipcreate_lib.tracking import Tracker

# Settings that choose kernels, processes or logs, not the experiment: a run may resume with other values.
SPEED_OPTIONS = (
    "tf32",
    "channels_last",
    "compile",
    "sample_call_batches",
    "processes",
    "tensorboard",
    "log_images_every",
)


# Settings added after runs had been recorded: at these values (their defaults, the experiment as it was)
# a run's record leaves them out, so that the runs recorded before them still resume and are reused.
LATER_SETTINGS = {"cpu_bf16": False, "timestep_fraction": 1.0, "train_guidance": True}


def run_settings(cfg: DdpoConfig) -> dict:
    """The DDPO settings a run records and must resume with: all but the epoch count, the lists of
    models and seeds (a run has its own ``seed``), the speed options and the later settings at their
    defaults."""
    return {
        k: v
        for k, v in vars(cfg).items()
        if k not in ("epochs", "models", "seeds", *SPEED_OPTIONS)
        and not (k in LATER_SETTINGS and v == LATER_SETTINGS[k])
    }


class InvalidRewardError(RuntimeError):
    """Every reward of an epoch was NaN or infinite, so there is nothing to learn from."""


def prepare_unet(pipe: StableDiffusionPipeline, cfg: DdpoConfig) -> dict[str, torch.nn.Parameter]:
    """Make ``pipe.unet`` the policy and return its trainable parameters (float32, also under bf16
    autocast): seeded LoRA adapters on ``cfg.lora_targets``, or the whole UNet. The VAE and text
    encoder are frozen; TF32, channels_last and torch.compile are applied as asked."""
    unet = pipe.unet
    pipe.vae.requires_grad_(False)
    pipe.text_encoder.requires_grad_(False)
    if cfg.lora:
        unet.requires_grad_(False)
        with seeded(cfg.seed):  # the adapters' gaussian initialisation, without moving the caller's RNG
            unet.add_adapter(
                LoraConfig(
                    r=cfg.lora_rank,
                    lora_alpha=cfg.lora_alpha,
                    init_lora_weights="gaussian",
                    target_modules=list(cfg.lora_targets),
                )
            )
    else:
        unet.requires_grad_(True)
    params = {name: p for name, p in unet.named_parameters() if p.requires_grad}
    for p in params.values():
        p.data = p.data.float()
    set_fp32_precision(unet.device, cfg.tf32)
    if cfg.channels_last:
        unet.to(memory_format=torch.channels_last)
    if cfg.compile:
        unet.compile()  # in place: pipe.unet, its state dict and the adapter export stay as they are
    return params


def run_record(run: dict, cfg: DdpoConfig, pipe: StableDiffusionPipeline) -> dict:
    """What a checkpoint must have been made with to be resumed: the caller's ``run`` description, the
    DDPO settings, the device type and the frozen models' dtype (the sampling noise's generator state
    differs between CPU and CUDA, and bf16 frozen models give other samples than float32)."""
    dtype = str(pipe.text_encoder.dtype).removeprefix("torch.")
    return {**run, "ddpo": run_settings(cfg), "device": pipe.unet.device.type, "frozen_dtype": dtype}


def finite_rows(rewards: torch.Tensor, epoch: int, out_dir: Path) -> torch.Tensor:
    """The indices of the samples whose reward is finite; a warning names how many were dropped, and an
    epoch with none stops the run (its last checkpoint is untouched)."""
    valid = torch.isfinite(rewards)
    if not valid.any():
        raise InvalidRewardError(
            f"Every reward of epoch {epoch} was NaN or infinite, so nothing was trained; "
            f"the checkpoint of epoch {epoch - 1} in {out_dir} is intact."
        )
    if not valid.all():
        warnings.warn(
            f"Epoch {epoch}: {int((~valid).sum())} of {len(valid)} samples had a NaN or infinite "
            "reward and were left out of the update.",
            stacklevel=3,
        )
    return valid.nonzero().flatten()


def epoch_row(epoch: int, terms: dict[str, torch.Tensor], keep: torch.Tensor, stats: dict) -> dict:
    """One row of metrics.csv: each reward term's mean and std over the kept samples, the update's
    statistics and the samples dropped."""
    row = {"epoch": epoch}
    for name, values in terms.items():
        row[f"{name}_mean"] = float(values[keep].mean())
        row[f"{name}_std"] = float(values[keep].std(unbiased=False))
    return {**row, **stats, "dropped_samples": len(terms["reward"]) - len(keep)}


def log_epoch(tracker: Tracker, trainer: Trainer, rollout: Rollout, rewards: torch.Tensor) -> None:
    """The epoch's metrics and timings as TensorBoard scalars and, every ``log_images_every`` epochs,
    its first 8 samples (decoded again from their last latents) with their prompts and rewards."""
    state, cfg = trainer.state, trainer.cfg
    tracker.scalars({**state.history[-1], **state.timings[-1]}, state.epoch)
    if tracker.board is None or not cfg.log_images_every or state.epoch % cfg.log_images_every:
        return
    with torch.no_grad():
        images = decode(trainer.pipe, rollout.latents[:8, -1].to(trainer.device))
    prompts = [cfg.prompts[i] for i in rollout.prompt_index[:8].tolist()]
    captions = [f"{p}\nreward {r:.4f}" for p, r in zip(prompts, rewards[:8].tolist())]
    tracker.samples("samples", images.permute(0, 2, 3, 1).cpu().numpy(), captions, state.epoch)


class Trainer:
    """DDPO on ``pipe.unet`` (LoRA adapters or the whole UNet) into ``out_dir``: after every epoch the
    checkpoint (the run's description and its ``TrainingState``), then ``metrics.csv`` and
    ``timings.csv``; once the epochs asked for are done, the trained weights and ``trained.json``
    (``records`` says why in this order). A checkpoint already in ``out_dir`` is resumed, which ends in
    exactly the state an uninterrupted run reaches; it must come from the same ``run`` description
    (everything but the number of epochs and the speed options). Under ``accelerate launch`` every
    process trains its share of each epoch (``processes``) and the main process alone writes."""

    METHOD = "DDPO"  # the optimiser's name on the progress bar

    def __init__(
        self,
        pipe: StableDiffusionPipeline,
        reward_fn: RewardFn,
        cfg: DdpoConfig,
        out_dir: Path,
        run: dict | None = None,
        progress: bool = True,
    ):
        self.pipe, self.reward_fn, self.cfg, self.out_dir, self.progress = pipe, reward_fn, cfg, Path(out_dir), progress
        self.device = pipe.unet.device
        self.processes = Processes(self.device)
        self.share = self.processes.share(cfg.sample_batches)  # the sampling batches this process draws
        self.policy = Policy.from_config(pipe, cfg)
        self.run = run_record(run or {}, cfg, pipe)
        self.state = TrainingState.new(prepare_unet(pipe, cfg), cfg, self.device)
        self.policy.unet = self.processes.wrap(pipe.unet)
        self.bar = None  # the progress bar while train() runs
        self.tracker = Tracker(self.out_dir, False, False)  # TensorBoard's, while train() runs
        if (self.out_dir / records.CHECKPOINT).exists():
            self.state.load_state_dict(records.load_checkpoint(self.out_dir, self.run))
        self.processes.on_main(lambda: records.tidy(self.out_dir, self.state))

    def train(self, epochs: int | None = None) -> pd.DataFrame:
        """Train until ``epochs`` epochs are done in total (default: the config's), then publish the
        trained weights; returns the metrics."""
        cfg, done = self.cfg, self.state.epoch
        epochs = cfg.epochs if epochs is None else epochs
        if done > epochs:
            raise ValueError(
                f"{self.out_dir} already holds {done} epochs, more than the {epochs} asked for; "
                f"ask for at least {done}, or delete it to train again."
            )
        if done < epochs:  # a finished run is reused as it is
            self.bar = bar(
                total=(epochs - done) * self.ticks_per_epoch(),
                unit="batch",
                disable=not (self.progress and self.processes.is_main),
                desc=f"{self.METHOD} {self.run.get('model', '')} from epoch {done + 1}",
            )
            self.tracker = Tracker(self.out_dir, cfg.tensorboard, self.processes.is_main, run_settings(cfg))
            try:
                while self.state.epoch < epochs:
                    row = self.train_epoch()
                    self.bar.set_postfix(self.postfix(row))
            finally:
                self.bar.close()
                self.tracker.close()
                self.bar, self.tracker = None, Tracker(self.out_dir, False, False)
        self.processes.on_main(lambda: records.publish(self.out_dir, self.run, self.state, self.pipe, cfg.lora))
        return self.metrics()

    def train_epoch(self) -> dict:
        """Sample an epoch, score it, update the policy on it, save; returns its metrics and timings."""
        start, state = time.perf_counter(), self.state
        rollout = sample_epoch(
            self.policy, self.reward_fn, self.cfg, state.order_rng, state.noise_rng, self._tick, self.share
        )
        rollout = gathered(rollout, self.processes)  # every process holds the whole epoch
        terms = {name: values.cpu() for name, values in rollout.terms.items()}  # one read-back per epoch
        keep = finite_rows(terms["reward"], state.epoch + 1, self.out_dir)
        prompts = [self.cfg.prompts[i] for i in rollout.prompt_index[keep].tolist()]
        advantages = ppo.advantages(
            terms["reward"][keep].double().numpy(), prompts, state.tracker if self.cfg.per_prompt_stats else None
        )
        batch = {
            "latents": rollout.latents[keep],
            "log_probs": rollout.log_probs[keep],
            "prompt_index": rollout.prompt_index[keep],
            "advantages": torch.as_tensor(advantages, dtype=torch.float32),
        }
        train_start = clock(self.device)
        stats = update.ppo_update(self.policy, state, self.cfg, batch, rollout.timesteps, self.processes, self._tick)
        seconds = {**rollout.seconds, "train_seconds": clock(self.device) - train_start}
        state.epoch += 1
        state.history.append(epoch_row(state.epoch, terms, keep, stats))
        state.timings.append({"epoch": state.epoch, **seconds, "seconds": time.perf_counter() - start})
        if records.samples_due(state.epoch, self.cfg.log_images_every, self.cfg.epochs):
            with torch.no_grad():
                kept = decode(self.pipe, rollout.latents[: records.SAMPLES_KEPT, -1].to(self.device))
            self.processes.on_main(lambda: records.save_samples(self.out_dir, state.epoch, kept))
        self.processes.on_main(lambda: records.write_epoch(self.out_dir, self.run, state))
        log_epoch(self.tracker, self, rollout, terms["reward"])
        return {**state.history[-1], **state.timings[-1]}

    def ticks_per_epoch(self) -> int:
        """The progress bar's steps in an epoch: its sampling batches, then its optimiser steps."""
        cfg = self.cfg
        return cfg.sample_batches + cfg.inner_epochs * -(
            -cfg.sample_batches * cfg.sample_batch_size // cfg.train_batch_size
        )

    def postfix(self, row: dict) -> dict:
        """What the progress bar shows of an epoch's metrics row."""
        return {"epoch": row["epoch"], "reward": f"{row['reward_mean']:.4f}", "kl": f"{row['approx_kl']:.1e}"}

    def _tick(self) -> None:
        if self.bar is not None:
            self.bar.update()

    def metrics(self) -> pd.DataFrame:
        return pd.DataFrame(self.state.history)

    def timings(self) -> pd.DataFrame:
        return pd.DataFrame(self.state.timings)
