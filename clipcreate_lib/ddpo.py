"""DDPO (Black et al. 2023): the DDIM sampling chain as an MDP, trained with a PPO-clipped policy gradient.

trl removed its DDPOTrainer after 0.23.1, so this is our own small core, checked against trl 0.23.1
in ``tests/test_trl_parity.py``. One epoch: sample images while recording every DDIM latent and the
log-probability of each step, score them, turn rewards into advantages (per prompt), then for each
training batch accumulate the PPO loss of every timestep into one optimiser step.

A step's log-prob is the Gaussian log-density of x_{t-1} given x_t, *averaged* over latent
dimensions as DDPO does; that is why a clip range as small as 1e-4 works. The last DDIM steps have a
tiny variance at eta = 1, so their log-ratios can be huge: the ratio is computed from a log-ratio
whose value is clamped (not its gradient), a step with zero variance (no log-prob at all) is left
out, and a non-finite loss or gradient skips its update instead of reaching the weights. Every timestep of a train batch goes into
the same optimiser step, so the order of timesteps (which trl shuffles) does not matter and is kept.

On a GPU the loop keeps its tensors on the device and reads values back only where a decision needs
them (a finite loss, a finite gradient norm) and once per epoch for the stat tracker and the metrics;
each metrics row records the seconds spent sampling, scoring and training.
"""
from __future__ import annotations

import contextlib
import math
import time
import warnings
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from diffusers import DDIMScheduler, StableDiffusionPipeline
from tqdm.auto import tqdm

from clipcreate_lib import artifacts
from clipcreate_lib.config import DdpoConfig

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.csv"
LORA_FILE = "pytorch_lora_weights.safetensors"
TRAINED = "trained.json"  # epochs done and the run description, written after the weights in every epoch
# Settings that choose kernels or processes, not the experiment: a run may resume with other values.
SPEED_OPTIONS = ("tf32", "channels_last", "compile", "processes")


def run_settings(cfg: DdpoConfig) -> dict:
    """The DDPO settings a run records and must resume with: all but the epoch count, the list of
    models and the speed options."""
    return {k: v for k, v in vars(cfg).items() if k not in ("epochs", "models", *SPEED_OPTIONS)}


class InvalidRewardError(RuntimeError):
    """Every reward of an epoch was NaN or infinite, so there is nothing to learn from."""


# --- the DDIM step as a policy ---------------------------------------------------------------
def ddim_step(scheduler: DDIMScheduler, noise_pred: torch.Tensor, timestep, sample: torch.Tensor, eta: float,
              generator: torch.Generator | None = None, prev_sample: torch.Tensor | None = None,
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """One DDIM step x_t -> x_{t-1} (DDIM paper eqs. 12 and 16) and its log-prob per image.

    ``timestep`` is an int or a tensor with one timestep per image. With ``prev_sample`` the step is
    not drawn but scored: the log-density of the given x_{t-1}, which is how training recomputes
    the log-prob of a stored trajectory under the current weights. Returns (x_{t-1}, log_prob (B,)).
    """
    if scheduler.config.thresholding:
        raise ValueError("Dynamic thresholding is not supported by the DDPO step.")
    if prev_sample is not None and generator is not None:
        raise ValueError("Give either a generator (to draw x_{t-1}) or prev_sample (to score it), not both.")
    x = sample.float()
    eps = noise_pred.float()
    a_t, a_prev = _alphas(scheduler, torch.as_tensor(timestep, device=x.device).reshape(-1).expand(len(x)))
    a_t, a_prev = _per_image(a_t, x), _per_image(a_prev, x)

    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
    elif kind == "v_prediction":
        x0 = a_t.sqrt() * x - (1 - a_t).sqrt() * eps
        eps = a_t.sqrt() * eps + (1 - a_t).sqrt() * x
    else:
        raise ValueError(f"prediction_type '{kind}' is not supported by the DDPO step.")
    if scheduler.config.clip_sample:
        x0 = x0.clamp(-scheduler.config.clip_sample_range, scheduler.config.clip_sample_range)

    std = _std(a_t, a_prev, eta)
    mean = a_prev.sqrt() * x0 + (1 - a_prev - std**2).clamp(min=0).sqrt() * eps
    if prev_sample is None:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        prev_sample = mean + std * noise
    prev_sample = prev_sample.float()
    log_density = (-((prev_sample.detach() - mean) ** 2) / (2 * std**2) - std.log()
                   - 0.5 * math.log(2 * math.pi))
    return prev_sample, log_density.mean(dim=tuple(range(1, x.ndim)))


def ddim_std(scheduler: DDIMScheduler, timestep, eta: float) -> float:
    """sigma_t of the DDIM step from ``timestep``. It is 0 at eta = 0, and at the last step when
    alpha_prev is 1 (steps_offset = 0 with SD's betas): then the step's log-prob is undefined."""
    return float(_std(*_alphas(scheduler, torch.as_tensor(timestep).reshape(1)), eta))


def _std(a_t: torch.Tensor, a_prev: torch.Tensor, eta: float) -> torch.Tensor:
    """sigma_t = eta * sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)) (DDIM eq. 16)."""
    return eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()


def _alphas(scheduler: DDIMScheduler, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """alpha-bar at each timestep and at the step it leads to (the final alpha past the start)."""
    if scheduler.num_inference_steps is None:
        raise ValueError("Call scheduler.set_timesteps(steps) before a DDIM step.")
    t = t.long()
    prev_t = t - scheduler.config.num_train_timesteps // scheduler.num_inference_steps
    alphas, final = _alpha_table(scheduler, t.device)
    return alphas[t], torch.where(prev_t >= 0, alphas[prev_t.clamp(min=0)], final)


_ALPHA_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _alpha_table(scheduler: DDIMScheduler, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The scheduler's alpha-bars and final alpha on ``device``, copied there once rather than at every
    step: a copy from host memory to a GPU waits for all the work queued on the GPU."""
    tables = _ALPHA_TABLES.setdefault(scheduler, {})
    if device not in tables:
        alphas = scheduler.alphas_cumprod.to(device)
        tables[device] = alphas, torch.as_tensor(scheduler.final_alpha_cumprod, device=device, dtype=alphas.dtype)
    return tables[device]


def _per_image(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.to(like.dtype).view(-1, *([1] * (like.ndim - 1)))


def guided_noise(unet, latents: torch.Tensor, timestep, embeddings: torch.Tensor, guidance_scale: float) -> torch.Tensor:
    """The UNet's noise prediction with classifier-free guidance; ``embeddings`` is
    cat([negative, prompt]) when guidance_scale > 1, else the prompt embeddings alone."""
    dtype = next(unet.parameters()).dtype
    embeddings = embeddings.to(dtype)  # a bf16 text encoder feeding a float32 UNet (full fine-tune, no autocast)
    t = torch.as_tensor(timestep, device=latents.device)
    if guidance_scale <= 1:
        return unet(latents.to(dtype), t, encoder_hidden_states=embeddings).sample.float()
    t = t.expand(len(latents)).repeat(2) if t.ndim else t
    both = unet(torch.cat([latents, latents]).to(dtype), t, encoder_hidden_states=embeddings).sample.float()
    uncond, cond = both.chunk(2)
    return uncond + guidance_scale * (cond - uncond)


def condition(negative: torch.Tensor, prompts: torch.Tensor, guidance_scale: float) -> torch.Tensor:
    """The encoder states ``guided_noise`` expects for a batch of prompt embeddings."""
    if guidance_scale <= 1:
        return prompts
    return torch.cat([negative.expand(len(prompts), -1, -1), prompts])


@torch.no_grad()
def encode_prompts(pipe: StableDiffusionPipeline, prompts: Sequence[str]) -> torch.Tensor:
    """Text-encoder hidden states (N, 77, D), padded to the tokenizer's full length as SD does."""
    tokens = pipe.tokenizer(list(prompts), padding="max_length", truncation=True,
                            max_length=pipe.tokenizer.model_max_length, return_tensors="pt")
    return pipe.text_encoder(tokens.input_ids.to(pipe.text_encoder.device))[0]


@dataclass
class Trajectory:
    """A batch of DDIM chains: ``latents[:, i]`` is the input of step i and ``latents[:, i + 1]`` its
    output; ``log_probs[:, i]`` the log-prob of that step; ``images`` the decoded x_0 in [0, 1]."""

    latents: torch.Tensor  # (B, steps + 1, C, h, w), float32
    log_probs: torch.Tensor  # (B, steps), float32
    timesteps: torch.Tensor  # (steps,)
    images: torch.Tensor  # (B, 3, H, W), float32 in [0, 1]


@torch.no_grad()
def sample(pipe: StableDiffusionPipeline, prompt_embeddings: torch.Tensor, negative_embedding: torch.Tensor,
           steps: int, guidance_scale: float, eta: float, generator: torch.Generator | None = None) -> Trajectory:
    """Sample one batch with DDIM, recording every latent and log-prob. Noise is drawn from
    ``generator`` in diffusers' order (initial latents, then one draw per step)."""
    unet, scheduler = pipe.unet, pipe.scheduler
    device = prompt_embeddings.device
    scheduler.set_timesteps(steps, device=device)
    size = unet.config.sample_size
    shape = (len(prompt_embeddings), unet.config.in_channels, size, size)
    latents = torch.randn(shape, generator=generator, device=device) * scheduler.init_noise_sigma
    embeddings = condition(negative_embedding, prompt_embeddings, guidance_scale)
    chain, log_probs = [latents], []
    for t in scheduler.timesteps:
        noise = guided_noise(unet, scheduler.scale_model_input(latents, t), t, embeddings, guidance_scale)
        latents, log_prob = ddim_step(scheduler, noise, t, latents, eta, generator=generator)
        chain.append(latents)
        log_probs.append(log_prob)
    return Trajectory(torch.stack(chain, dim=1), torch.stack(log_probs, dim=1), scheduler.timesteps.clone(),
                      decode(pipe, latents))


def decode(pipe: StableDiffusionPipeline, latents: torch.Tensor) -> torch.Tensor:
    """VAE-decode latents to images in [0, 1] (float32)."""
    vae = pipe.vae
    images = vae.decode((latents / vae.config.scaling_factor).to(vae.dtype)).sample
    return (images.float() / 2 + 0.5).clamp(0, 1)


# --- PPO ---------------------------------------------------------------------------------------
def ppo_loss(log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantages: torch.Tensor, clip_range: float,
             adv_clip_max: float, log_ratio_limit: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
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


# --- the trainer -------------------------------------------------------------------------------
RewardFn = Callable[[torch.Tensor, Sequence[str]], dict[str, torch.Tensor]]


def set_fp32_precision(device: torch.device, tf32: bool) -> None:
    """TF32 or IEEE float32 for matmuls and convolutions on CUDA (the CPU has no TF32). Process-wide,
    as PyTorch's precision flags are. Only the fp32_precision API: setting it and the legacy
    allow_tf32 flags in one process makes PyTorch raise."""
    if device.type == "cuda":
        precision = "tf32" if tf32 else "ieee"
        torch.backends.cuda.matmul.fp32_precision = precision
        torch.backends.cudnn.conv.fp32_precision = precision


def unet_compute_dtype(device: torch.device, bf16: bool) -> torch.dtype:
    """What the UNet computes in: bfloat16 on CUDA when asked, else float32 (the CPU runs float32)."""
    return torch.bfloat16 if bf16 and device.type == "cuda" else torch.float32


def unet_autocast(device: torch.device, bf16: bool) -> Callable[[], contextlib.AbstractContextManager]:
    """What makes the context the UNet runs in: autocast to ``unet_compute_dtype``, or nothing at float32."""
    dtype = unet_compute_dtype(device, bf16)
    if dtype == torch.float32:
        return contextlib.nullcontext
    return lambda: torch.autocast(device.type, dtype=dtype)


class Trainer:
    """DDPO on ``pipe.unet`` (LoRA adapters or the whole UNet), writing into ``out_dir``:
    ``checkpoint.pt`` (weights, optimiser, stat tracker, RNG states, metrics) and ``metrics.csv``
    after every epoch, both atomically, and the adapter for evaluation. A checkpoint already in
    ``out_dir`` is resumed, which ends in exactly the state an uninterrupted run reaches; it must
    come from the same ``run`` description (everything but the number of epochs and the speed options)."""

    def __init__(self, pipe: StableDiffusionPipeline, reward_fn: RewardFn, cfg: DdpoConfig, out_dir: Path,
                 run: dict | None = None, progress: bool = True):
        if cfg.eta <= 0:
            raise ValueError(f"ddpo.eta must be above 0 (got {cfg.eta}): at eta 0 every DDIM step is "
                             "deterministic, so no step has a log-probability for the policy gradient.")
        self.pipe, self.reward_fn, self.cfg, self.out_dir = pipe, reward_fn, cfg, Path(out_dir)
        self.progress = progress
        unet = pipe.unet
        self.device = unet.device
        # The device and the frozen models' dtype are part of the run: the sampling noise's generator
        # state differs between CPU and CUDA, and bf16 frozen models give other samples than float32.
        self.run = {**(run or {}), "ddpo": run_settings(cfg), "device": self.device.type,
                    "frozen_dtype": str(pipe.text_encoder.dtype).removeprefix("torch.")}
        pipe.vae.requires_grad_(False)
        pipe.text_encoder.requires_grad_(False)
        torch.manual_seed(cfg.seed)  # the adapters' gaussian initialisation
        if cfg.lora:
            from peft import LoraConfig

            unet.requires_grad_(False)
            unet.add_adapter(LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, init_lora_weights="gaussian",
                                        target_modules=list(cfg.lora_targets)))
        else:
            unet.requires_grad_(True)
        self.params = {name: p for name, p in unet.named_parameters() if p.requires_grad}
        for p in self.params.values():
            p.data = p.data.float()  # trained weights stay float32 under bf16 autocast
        set_fp32_precision(self.device, cfg.tf32)
        if cfg.channels_last:
            unet.to(memory_format=torch.channels_last)
        if cfg.compile:
            unet.compile()  # in place: pipe.unet, its state dict and the adapter export stay as they are
        self.optimizer = torch.optim.AdamW(self.params.values(), lr=cfg.learning_rate,
                                           betas=(cfg.adam_beta1, cfg.adam_beta2),
                                           weight_decay=cfg.weight_decay, eps=cfg.adam_epsilon)
        warmup = cfg.lr_warmup_steps
        self.lr_schedule = torch.optim.lr_scheduler.LambdaLR(  # one step per train batch
            self.optimizer, lambda step: min(1.0, (step + 1) / warmup) if warmup else 1.0)
        self.tracker = PerPromptStatTracker(cfg.stat_buffer_size, cfg.stat_min_count)
        self.order_rng = torch.Generator().manual_seed(cfg.seed)  # prompts and shuffling
        self.noise_rng = torch.Generator(self.device).manual_seed(cfg.seed)  # sampling noise
        self.prompt_embeddings = encode_prompts(pipe, cfg.prompts)
        self.negative_embedding = encode_prompts(pipe, [""])
        self.autocast = unet_autocast(self.device, cfg.autocast)
        self.epoch = 0
        self.history: list[dict] = []
        self.bar = None  # the progress bar while train() runs
        if (self.out_dir / CHECKPOINT).exists():
            self._resume()

    # one epoch ---------------------------------------------------------------------------------
    def train(self, epochs: int | None = None) -> pd.DataFrame:
        """Train until ``epochs`` epochs are done in total (default: the config's); returns the metrics."""
        epochs = self.cfg.epochs if epochs is None else epochs
        if self.epoch > epochs:
            raise ValueError(f"{self.out_dir} already holds {self.epoch} epochs, more than the {epochs} asked for; "
                             f"ask for at least {self.epoch}, or delete it to train again.")
        if self.epoch == epochs:
            return self.metrics()  # a finished run is reused as it is
        cfg = self.cfg
        batches = cfg.sample_batches + cfg.inner_epochs * -(-cfg.sample_batches * cfg.sample_batch_size
                                                            // cfg.train_batch_size)
        self.bar = tqdm(total=(epochs - self.epoch) * batches, unit="batch", disable=not self.progress,
                        desc=f"DDPO {self.run.get('model', '')} from epoch {self.epoch + 1}".strip())
        try:
            while self.epoch < epochs:
                row = self.train_epoch()
                self.bar.set_postfix(epoch=self.epoch, reward=f"{row['reward_mean']:.4f}",
                                     kl=f"{row['approx_kl']:.1e}")
        finally:
            self.bar.close()
            self.bar = None
        return self.metrics()

    def train_epoch(self) -> dict:
        start = time.perf_counter()
        samples = self._sample_epoch()
        seconds = samples.pop("seconds")
        terms = {name: values.cpu() for name, values in samples.pop("terms").items()}  # one read-back per epoch
        valid = torch.isfinite(terms["reward"])
        if not valid.any():
            raise InvalidRewardError(
                f"Every reward of epoch {self.epoch + 1} was NaN or infinite, so nothing was trained; "
                f"the checkpoint of epoch {self.epoch} in {self.out_dir} is intact.")
        if not valid.all():
            warnings.warn(f"Epoch {self.epoch + 1}: {int((~valid).sum())} of {len(valid)} samples had a NaN "
                          "or infinite reward and were left out of the update.", stacklevel=2)
        keep = valid.nonzero().flatten()
        prompts = [self.cfg.prompts[i] for i in samples["prompt_index"][keep].tolist()]
        rewards = terms["reward"][keep].double().numpy()
        if self.cfg.per_prompt_stats:
            advantages = self.tracker.update(prompts, rewards)
        else:
            advantages = (rewards - rewards.mean()) / (rewards.std() + 1e-8)
        batch = {"latents": samples["latents"][keep], "log_probs": samples["log_probs"][keep],
                 "prompt_index": samples["prompt_index"][keep],
                 "advantages": torch.as_tensor(advantages, dtype=torch.float32)}
        train_start = self._clock()
        stats = self._optimise(batch, samples["timesteps"])
        seconds["train_seconds"] = self._clock() - train_start
        self.epoch += 1
        row = {"epoch": self.epoch}
        for name, values in terms.items():
            row[f"{name}_mean"] = float(values[keep].mean())
            row[f"{name}_std"] = float(values[keep].std(unbiased=False))
        row.update(stats, dropped_samples=int((~valid).sum()), **seconds, seconds=time.perf_counter() - start)
        self.history.append(row)
        self._save()
        return row

    def _sample_epoch(self) -> dict:
        cfg = self.cfg
        self.pipe.unet.eval()
        parts = []
        seconds = {"sample_seconds": 0.0, "reward_seconds": 0.0}
        for _ in range(cfg.sample_batches):
            index = torch.randint(len(cfg.prompts), (cfg.sample_batch_size,), generator=self.order_rng)
            start = self._clock()
            with self.autocast():
                trajectory = sample(self.pipe, self.prompt_embeddings[index.to(self.device)],
                                    self.negative_embedding, cfg.sample_steps, cfg.guidance_scale, cfg.eta,
                                    self.noise_rng)
            middle = self._clock()
            terms = self.reward_fn(trajectory.images, [cfg.prompts[i] for i in index.tolist()])
            terms = {k: v.detach().float() for k, v in terms.items()}  # stays on its device until the epoch ends
            seconds["sample_seconds"] += middle - start
            seconds["reward_seconds"] += self._clock() - middle
            parts.append((trajectory, index, terms))
            self._tick()
        return {"seconds": seconds, "latents": torch.cat([p[0].latents for p in parts]),
                "log_probs": torch.cat([p[0].log_probs for p in parts]),
                "timesteps": parts[0][0].timesteps,
                "prompt_index": torch.cat([p[1] for p in parts]),
                "terms": {k: torch.cat([p[2][k] for p in parts]) for k in parts[0][2]}}

    def _clock(self) -> float:
        """Seconds on the wall clock, once the GPU has finished the work queued so far."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def _optimise(self, batch: dict, timesteps: torch.Tensor) -> dict:
        """PPO updates: one optimiser step per train batch, every timestep's loss accumulated into it.
        ``timesteps_per_pass`` timesteps share one UNet forward and backward (one batch of
        images x timesteps); the gradient is the same, only the pass count changes. A timestep
        whose DDIM step has zero variance (its log-prob is undefined) is skipped up front, as is a
        pass whose loss is not finite, and a step whose gradient norm is not finite."""
        cfg, unet = self.cfg, self.pipe.unet
        unet.train()
        steps = len(timesteps)
        passes = self.passes(timesteps)
        usable_steps = sum(len(js) for js in passes)
        batch = {name: values.to(self.device) for name, values in batch.items()}
        timesteps = timesteps.to(self.device)
        # float64 on the device: the same sums as Python floats, without a read-back per pass
        sums = {name: torch.zeros((), dtype=torch.float64, device=self.device)
                for name in ("loss", "approx_kl", "clipfrac")}
        scored = skipped_terms = skipped_steps = 0
        for _ in range(cfg.inner_epochs):
            order = torch.randperm(len(batch["advantages"]), generator=self.order_rng).to(self.device)
            for rows in order.split(cfg.train_batch_size):
                skipped_terms += steps - usable_steps
                latents = batch["latents"][rows]
                old_log_probs = batch["log_probs"][rows]
                advantages = batch["advantages"][rows]
                prompts = self.prompt_embeddings[batch["prompt_index"][rows]]
                for js in passes:
                    k = len(js)
                    log_prob = self.pass_log_probs(latents, timesteps, js, prompts)
                    loss, kl, clipfrac = ppo_loss(log_prob, old_log_probs[:, js].flatten(),
                                                  advantages.repeat_interleave(k), cfg.clip_range,
                                                  cfg.adv_clip_max, cfg.log_ratio_limit)
                    if not torch.isfinite(loss):  # a read-back, needed to decide whether to step back
                        skipped_terms += k
                        continue
                    (loss * k / steps).backward()  # the mean over all timesteps, as if each had its own pass
                    for name, value in (("loss", loss), ("approx_kl", kl), ("clipfrac", clipfrac)):
                        sums[name] += value.detach().double() * k
                    scored += k
                norm = torch.nn.utils.clip_grad_norm_(list(self.params.values()), cfg.max_grad_norm)
                if torch.isfinite(norm):
                    self.optimizer.step()
                else:
                    skipped_steps += 1
                self.optimizer.zero_grad(set_to_none=True)
                self.lr_schedule.step()
                self._tick()
        means = {name: float(total) / scored if scored else float("nan") for name, total in sums.items()}
        return {**means, "skipped_terms": skipped_terms, "skipped_steps": skipped_steps}

    def passes(self, timesteps: torch.Tensor) -> list[torch.Tensor]:
        """The trajectory's step indices in groups of ``timesteps_per_pass``, on the device (once,
        not per pass); a step whose DDIM variance is zero (its log-prob is undefined) is left out.
        Sets the scheduler's timesteps, as every scoring pass needs them."""
        cfg, scheduler = self.cfg, self.pipe.scheduler
        scheduler.set_timesteps(cfg.sample_steps, device=self.device)
        usable = [j for j in range(len(timesteps)) if ddim_std(scheduler, timesteps[j], cfg.eta) > 0]
        return [torch.tensor(usable[i:i + cfg.timesteps_per_pass], device=self.device)
                for i in range(0, len(usable), cfg.timesteps_per_pass)]

    def pass_log_probs(self, latents: torch.Tensor, timesteps: torch.Tensor, js: torch.Tensor,
                       prompts: torch.Tensor) -> torch.Tensor:
        """The log-probs, under the current weights, of the DDIM steps ``js`` of each trajectory in
        ``latents`` (images, steps + 1, ...), scored in one guided UNet call: its rows are (image,
        timestep) pairs, image-major."""
        cfg, k = self.cfg, len(js)
        x = latents[:, js].flatten(0, 1)
        t = timesteps[js].repeat(len(latents))
        embeddings = condition(self.negative_embedding, prompts.repeat_interleave(k, 0), cfg.guidance_scale)
        with self.autocast():
            noise = guided_noise(self.pipe.unet, x, t, embeddings, cfg.guidance_scale)
        _, log_prob = ddim_step(self.pipe.scheduler, noise, t, x, cfg.eta,
                                prev_sample=latents[:, js + 1].flatten(0, 1))
        return log_prob

    def _tick(self) -> None:
        if self.bar is not None:
            self.bar.update()

    # files -------------------------------------------------------------------------------------
    def metrics(self) -> pd.DataFrame:
        return pd.DataFrame(self.history)

    def _save(self) -> None:
        state = {
            "epoch": self.epoch, "run": self.run, "history": self.history,
            "weights": {name: p.detach().cpu() for name, p in self.params.items()},
            "optimizer": self.optimizer.state_dict(), "lr_schedule": self.lr_schedule.state_dict(),
            "tracker": self.tracker.state_dict(),
            "rng": {"order": self.order_rng.get_state(), "noise": self.noise_rng.get_state(),
                    "torch": torch.get_rng_state()},
        }
        # The checkpoint goes last: a run stopped between these writes resumes from the epoch before and
        # trains this one again, to the same state, rewriting all four. Written first, it would make a
        # finished run of a stale export, which a rerun returns at once without repairing.
        artifacts.save_csv(self.out_dir / METRICS, self.metrics())
        export_weights(self.pipe, self.out_dir, self.cfg.lora)
        artifacts.save_json(self.out_dir / TRAINED, {"epochs": self.epoch, **self.run})
        artifacts.atomic_write(self.out_dir / CHECKPOINT, lambda f: torch.save(state, f))

    def _resume(self) -> None:
        path = self.out_dir / CHECKPOINT
        state = torch.load(path, map_location="cpu", weights_only=False)
        changed = artifacts.changed_keys(state["run"], self.run)
        if changed:
            raise RuntimeError(f"{path} was trained with other settings ({', '.join(changed)}); delete "
                               f"{self.out_dir} to train with these, or restore the settings it was made with.")
        with torch.no_grad():
            for name, p in self.params.items():
                p.copy_(state["weights"][name])
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr_schedule.load_state_dict(state["lr_schedule"])
        self.tracker.load_state_dict(state["tracker"])
        self.order_rng.set_state(state["rng"]["order"])
        self.noise_rng.set_state(state["rng"]["noise"])
        torch.set_rng_state(state["rng"]["torch"])
        self.epoch, self.history = state["epoch"], state["history"]


def export_weights(pipe: StableDiffusionPipeline, out_dir: Path, lora: bool) -> None:
    """Write the trained weights where ``load_trained`` finds them: the LoRA in diffusers' format
    (``pipe.load_lora_weights(out_dir / 'lora')`` works on it too), or the whole UNet."""
    import tempfile

    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        if lora:
            from diffusers.utils import convert_state_dict_to_diffusers
            from peft.utils import get_peft_model_state_dict

            layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(pipe.unet))
            metadata = pipe.unet.peft_config["default"].to_dict()
            pipe.save_lora_weights(tmp, unet_lora_layers=layers, unet_lora_adapter_metadata=metadata)
            (out_dir / "lora").mkdir(exist_ok=True)
            Path(tmp, LORA_FILE).replace(out_dir / "lora" / LORA_FILE)
        else:
            pipe.unet.save_pretrained(tmp)
            (out_dir / "unet").mkdir(exist_ok=True)
            for file in Path(tmp).iterdir():
                file.replace(out_dir / "unet" / file.name)


def trained_weights(out_dir: Path) -> tuple[str, list[Path]]:
    """Which trained weights ``out_dir`` holds, as ``load_trained`` reads them: ("lora", [the adapter
    file]) or ("unet", [the saved UNet's files])."""
    out_dir = Path(out_dir)
    if (out_dir / "lora" / LORA_FILE).exists():
        return "lora", [out_dir / "lora" / LORA_FILE]
    if (out_dir / "unet").exists():
        return "unet", sorted((out_dir / "unet").iterdir())
    raise FileNotFoundError(f"No trained weights in {out_dir}; run notebook 04_ddpo for this model first.")


def load_trained(pipe: StableDiffusionPipeline, out_dir: Path) -> StableDiffusionPipeline:
    """Put a trained model's weights (from ``Trainer``'s ``out_dir``) into ``pipe``."""
    kind, files = trained_weights(out_dir)
    if kind == "lora":
        # into the UNet alone: the adapter has no text-encoder part (pipe.load_lora_weights warns so)
        pipe.unet.load_lora_adapter(str(files[0].parent), weight_name=LORA_FILE, prefix="unet")
    else:
        from diffusers import UNet2DConditionModel

        unet = UNet2DConditionModel.from_pretrained(files[0].parent)
        pipe.unet.load_state_dict(unet.state_dict())
    return pipe
