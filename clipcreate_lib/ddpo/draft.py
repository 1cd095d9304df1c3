"""DRaFT-K (Clark et al. 2023) / AlignProp (Prabhudesai et al. 2023): the reward's gradient itself,
back-propagated through the decoder and the last K DDIM steps into the trained weights.

Our reward is differentiable (CLIP, the style logits, -CE against uniform, the cosine utility), so
where DDPO learns from reward values alone through the log-probs of sampled steps, DRaFT samples a
batch with the autograd graph kept for its last K steps, decodes it, scores it and steps AdamW on
-mean(reward). The steps before those K run without gradients (their latents are constants); with
``checkpointing`` each differentiated step's UNet activations are recomputed in the backward pass
(memory of one step, not K). Each step's noise is drawn outside the recomputed part, so a recomputed
forward is the same function of the same numbers and the generator moves once per step, exactly as
``policy.sample`` moves it: the first batch of a DRaFT run is the first batch of the DDPO run with the
same seed, and every batch is sampled with the weights the previous one left (on-policy, one
optimiser step per sampling batch).

``DraftTrainer`` is DDPO's ``Trainer`` with another epoch: the same prompts, guidance, eta, seeds,
LoRA, AdamW and warm-up, the same checkpoint, logs, samples, weights and resume guarantees, and the
same metrics.csv columns where they apply (each reward term, ``loss``, ``skipped_steps``,
``dropped_samples``) plus ``grad_norm``, the mean gradient norm before clipping.
"""

from __future__ import annotations

import dataclasses
import math
import time

import torch
from diffusers import StableDiffusionPipeline
from torch.utils.checkpoint import checkpoint

from clipcreate_lib.config import DdpoConfig, DraftConfig
from clipcreate_lib.ddpo import records
from clipcreate_lib.ddpo.policy import condition, ddim_step, decode, guided_noise
from clipcreate_lib.ddpo.rollout import RewardFn, Rollout, clock
from clipcreate_lib.ddpo.trainer import Trainer, epoch_row, finite_rows, log_epoch


def sample_through_last(
    pipe: StableDiffusionPipeline,
    prompt_embeddings: torch.Tensor,
    negative_embedding: torch.Tensor,
    steps: int,
    guidance_scale: float,
    eta: float,
    generator: torch.Generator,
    k: int,
    checkpointing: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample one batch with DDIM as ``policy.sample`` does (the same noise in the same order), the
    autograd graph kept through the last ``k`` steps and the decoder; returns (images in [0, 1],
    the final latents). With ``checkpointing`` each of those steps' UNet call is recomputed in the
    backward pass instead of keeping its activations."""
    unet, scheduler = pipe.unet, pipe.scheduler
    device = prompt_embeddings.device
    scheduler.set_timesteps(steps, device=device)
    size = unet.config.sample_size
    shape = (len(prompt_embeddings), unet.config.in_channels, size, size)
    latents = torch.randn(shape, generator=generator, device=device) * scheduler.init_noise_sigma
    embeddings = condition(negative_embedding, prompt_embeddings, guidance_scale)
    first = max(0, steps - k)  # the first step the gradient flows through
    for i, t in enumerate(scheduler.timesteps):
        with torch.set_grad_enabled(i >= first):
            x = scheduler.scale_model_input(latents, t)
            if i >= first and checkpointing:
                noise = checkpoint(guided_noise, unet, x, t, embeddings, guidance_scale, use_reentrant=False)
            else:
                noise = guided_noise(unet, x, t, embeddings, guidance_scale)
            latents, _ = ddim_step(scheduler, noise, t, latents, eta, generator=generator)
    return decode(pipe, latents), latents


def draft_settings(ddpo: DdpoConfig, draft: DraftConfig) -> DdpoConfig:
    """The DDPO settings a DRaFT run trains with: ddpo's, with the DRaFT section's epochs and
    learning rate where it gives them."""
    return dataclasses.replace(
        ddpo,
        epochs=draft.epochs if draft.epochs is not None else ddpo.epochs,
        learning_rate=draft.learning_rate if draft.learning_rate is not None else ddpo.learning_rate,
    )


class DraftTrainer(Trainer):
    """DRaFT-K on ``pipe.unet`` into ``out_dir``, with ``Trainer``'s files, resume and publishing.
    ``reward_fn`` must keep its graph (``styles.rewards.differentiable_reward_fn``). A run records K
    (the number of differentiated steps); checkpointing is a memory option it may resume without."""

    METHOD = "DRaFT"

    def __init__(
        self,
        pipe: StableDiffusionPipeline,
        reward_fn: RewardFn,
        cfg: DdpoConfig,
        draft: DraftConfig,
        out_dir,
        run: dict | None = None,
        progress: bool = True,
    ):
        self.k, self.checkpointing = min(draft.steps, cfg.sample_steps), draft.checkpointing
        run = {**(run or {}), "method": "draft", "draft_steps": self.k}
        super().__init__(pipe, reward_fn, draft_settings(cfg, draft), out_dir, run, progress)
        if self.processes.count > 1:
            raise RuntimeError("DRaFT trains in one process; run it without accelerate launch.")

    def ticks_per_epoch(self) -> int:
        return self.cfg.sample_batches  # one optimiser step per sampling batch

    def postfix(self, row: dict) -> dict:
        return {"epoch": row["epoch"], "reward": f"{row['reward_mean']:.4f}", "grad": f"{row['grad_norm']:.1e}"}

    def backward_batch(self, prompt_index: torch.Tensor, seconds: dict) -> tuple[dict, torch.Tensor, float]:
        """Sample the images of ``prompt_index`` with the run's noise generator, score them and
        back-propagate -mean(reward) over the finite rewards into the weights' ``.grad``; returns the
        terms (detached, on the CPU), the final latents and the loss (NaN when no reward was finite).
        Adds the seconds spent sampling, scoring and back-propagating to ``seconds``."""
        start, policy = clock(self.device), self.policy
        with policy.autocast():
            images, latents = sample_through_last(
                self.pipe,
                policy.prompt_embeddings[prompt_index.to(self.device)],
                policy.negative_embedding,
                policy.steps,
                policy.guidance_scale,
                policy.eta,
                self.state.noise_rng,
                self.k,
                self.checkpointing,
            )
        middle = clock(self.device)
        terms = self.reward_fn(images, [self.cfg.prompts[i] for i in prompt_index.tolist()])
        rewards = terms["reward"]
        finite = torch.isfinite(rewards.detach())
        loss = -rewards[finite].mean() if finite.any() else None
        scored = clock(self.device)
        if loss is not None:
            loss.backward()
        seconds["sample_seconds"] += middle - start
        seconds["reward_seconds"] += scored - middle
        seconds["train_seconds"] += clock(self.device) - scored
        detached = {name: values.detach().float().cpu() for name, values in terms.items()}
        return detached, latents.detach(), float("nan") if loss is None else float(loss.detach())

    def optimiser_step(self) -> tuple[float, bool]:
        """Clip the accumulated gradient and step AdamW unless its norm is not finite; the schedule
        steps either way (as DDPO's). Returns (the norm before clipping, whether it stepped)."""
        state = self.state
        norm = torch.nn.utils.clip_grad_norm_(list(state.params.values()), self.cfg.max_grad_norm)
        stepped = bool(torch.isfinite(norm))
        if stepped:
            state.optimizer.step()
        state.optimizer.zero_grad(set_to_none=True)
        state.lr_schedule.step()
        return float(norm), stepped

    def train_epoch(self) -> dict:
        """``sample_batches`` on-policy batches, each sampled, scored and stepped on; then save as
        DDPO does. Returns the epoch's metrics and timings."""
        start, state, cfg = time.perf_counter(), self.state, self.cfg
        seconds = {"sample_seconds": 0.0, "reward_seconds": 0.0, "train_seconds": 0.0}
        parts, losses, norms, skipped = [], [], [], 0
        self.pipe.unet.eval()  # as DDPO samples; the tiny and SD UNets have no dropout in use
        for _ in range(cfg.sample_batches):
            index = torch.randint(len(cfg.prompts), (cfg.sample_batch_size,), generator=state.order_rng)
            terms, latents, loss = self.backward_batch(index, seconds)
            step_start = clock(self.device)
            norm, stepped = self.optimiser_step()
            seconds["train_seconds"] += clock(self.device) - step_start
            skipped += not stepped or math.isnan(loss)
            parts.append((terms, index, latents))
            losses, norms = losses + [loss], norms + [norm]
            self._tick()
        terms = {name: torch.cat([p[0][name] for p in parts]) for name in parts[0][0]}
        keep = finite_rows(terms["reward"], state.epoch + 1, self.out_dir)
        latents = torch.cat([p[2] for p in parts])
        stats = {"loss": _mean(losses), "grad_norm": _mean(norms), "skipped_steps": skipped}
        state.epoch += 1
        state.history.append(epoch_row(state.epoch, terms, keep, stats))
        state.timings.append({"epoch": state.epoch, **seconds, "seconds": time.perf_counter() - start})
        self._save(latents, torch.cat([p[1] for p in parts]), terms, seconds)
        return {**state.history[-1], **state.timings[-1]}

    def _save(self, latents: torch.Tensor, prompt_index: torch.Tensor, terms: dict, seconds: dict) -> None:
        """The epoch's kept samples, checkpoint and logs, as ``Trainer.train_epoch`` writes them."""
        state = self.state
        if records.samples_due(state.epoch, self.cfg.log_images_every, self.cfg.epochs):
            with torch.no_grad():
                kept = decode(self.pipe, latents[: records.SAMPLES_KEPT])
            self.processes.on_main(lambda: records.save_samples(self.out_dir, state.epoch, kept))
        self.processes.on_main(lambda: records.write_epoch(self.out_dir, self.run, state))
        empty = torch.empty(0)
        log_epoch(
            self.tracker, self, Rollout(latents[:, None], empty, empty, prompt_index, terms, seconds), terms["reward"]
        )


def _mean(values: list[float]) -> float:
    """The mean of the finite values (NaN when there are none): a batch without a finite reward has no loss."""
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan
