"""Settings of the stages: centroids (notebook 02), the CAN (03), the reward and DDPO (04), the
evaluation (05) and the user study (06). The defaults are the paper's settings."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal

from clipcreate_lib.config.fields import (
    above_zero,
    bounded,
    decay,
    fraction,
    non_negative,
    nonempty,
    positive,
    probability,
)


@dataclass
class CentroidsConfig:
    # k of the k-means classifier for the full dataset (27 = its number of styles).
    k_full: int = positive(27)
    # k for the mediums dataset (10 = its number of styles).
    k_mediums: int = positive(10)
    # k values for the inertia (elbow) plot.
    k_range: list[int] = positive(factory=lambda: [2, 4, 6, 8, 10, 15, 20, 27, 35, 50])
    # Images per CLIP forward pass.
    batch_size: int = positive(64)
    # k-means restarts (scikit-learn n_init).
    n_init: int = positive(10)
    # k-means random_state.
    seed: int = non_negative(0)


ModelName = Literal["disc-full", "clip-full", "kmeans-full", "disc-med", "clip-med", "kmeans-med"]
MODEL_NAMES = typing.get_args(ModelName)


@dataclass
class RewardConfig:
    # lambda_nov: weight of style ambiguity, -CE(softmax(style logits), uniform).
    novelty_weight: float = 1.0
    # lambda_util: weight of utility, the cosine between CLIP embeddings of prompt and image.
    utility_weight: float = 0.25
    # lambda_ir: weight of ImageReward in the training reward. 0 = the paper's formula; the
    # reference code always added it (docs/deviations.md), set it > 0 to reproduce that on purpose.
    image_reward_weight: float = 0.0
    # Softmax temperature of the k-means classifier's inverse-distance logits (1 = the reference).
    kmeans_temperature: float = above_zero(1.0)


@dataclass
class DdpoConfig:
    # Which of the six models notebook 04 trains (names from MODEL_NAMES: classifier-dataset).
    models: list[ModelName] = nonempty(lambda: list(MODEL_NAMES))
    # Training epochs; each samples sample_batches x sample_batch_size images, then trains on them.
    epochs: int = positive(100)
    # Training prompts, drawn uniformly per image (the paper's three mediums).
    prompts: list[str] = nonempty(lambda: ["painting", "drawing", "art"])
    # DDIM steps per sampled image (every step is one PPO timestep).
    sample_steps: int = positive(10)
    # DDIM eta in (0, 1]: at 0 every step is deterministic and has no log-probability for the policy
    # gradient; 1 makes every step stochastic (above 1 the noise would exceed the step's variance).
    eta: float = bounded(0, 1, 1.0, open_low=True)
    # Classifier-free guidance scale, in sampling and in the training forward passes alike.
    guidance_scale: float = non_negative(5.0)
    # Images per sampling batch.
    sample_batch_size: int = positive(4)
    # Sampling batches per epoch (4 x 8 = 32 images per epoch).
    sample_batches: int = positive(8)
    # Sampling batches that go through the UNet, the VAE decoder and the reward together (8: the whole
    # epoch at once): the same prompts and noise as batch by batch, so the same samples up to the float
    # rounding of a larger batch, in fewer, larger calls. A speed option.
    sample_call_batches: int = positive(1)
    # Images per optimiser step; every DDIM timestep of these images is accumulated into it.
    train_batch_size: int = positive(4)
    # Passes over each epoch's samples.
    inner_epochs: int = positive(1)
    # Timesteps scored in one UNet forward and backward during training (same gradient; more is
    # faster but holds more activations: 1 as trl and the reference do, sample_steps = all at once).
    timesteps_per_pass: int = positive(1)
    # NOT the paper's algorithm (off at 1): train on this fraction of each trajectory's timesteps, drawn
    # at random per train batch (ddpo-pytorch's timestep_fraction draws them per sample). Less training
    # work, a noisier gradient.
    timestep_fraction: float = bounded(0, 1, 1.0, open_low=True)
    # NOT the paper's algorithm when off: the update rescores the stored steps without classifier-free
    # guidance (half the UNet rows), while sampling, and so the stored log-probs, keep it.
    train_guidance: bool = True
    # AdamW learning rate.
    learning_rate: float = above_zero(3e-4)
    # Optimiser steps over which the learning rate rises linearly to learning_rate (0: from the
    # first step, as the reference code). Adam's first steps move every weight by about the learning
    # rate whatever its gradient; in a full fine-tune that jump cost some seeds 2-6 reward points.
    lr_warmup_steps: int = non_negative(0)
    # AdamW beta1.
    adam_beta1: float = decay(0.9)
    # AdamW beta2.
    adam_beta2: float = decay(0.999)
    # AdamW weight decay.
    weight_decay: float = non_negative(1e-4)
    # AdamW epsilon.
    adam_epsilon: float = above_zero(1e-8)
    # Gradient-norm clipping threshold.
    max_grad_norm: float = above_zero(1.0)
    # PPO clip range of the probability ratio (small because log-probs are per-dimension means).
    clip_range: float = above_zero(1e-4)
    # Advantages are clipped to [-adv_clip_max, adv_clip_max].
    adv_clip_max: float = above_zero(5.0)
    # The log-ratio's value is clamped to [-limit, limit] before exp, so a near-deterministic DDIM
    # step cannot overflow the ratio; its gradient passes unclamped (ddpo.ppo_loss says why).
    log_ratio_limit: float = above_zero(20.0)
    # Normalise rewards per prompt (else over the whole batch).
    per_prompt_stats: bool = True
    # Per-prompt reward buffer length.
    stat_buffer_size: int = positive(16)
    # Fewer rewards than this for a prompt -> use the batch's mean and std instead.
    stat_min_count: int = positive(16)
    # Train LoRA adapters on the UNet (false: fine-tune the whole UNet).
    lora: bool = True
    # LoRA rank.
    lora_rank: int = positive(4)
    # LoRA alpha (scale = alpha / rank).
    lora_alpha: int = positive(4)
    # UNet attention projections that get adapters.
    lora_targets: list[str] = nonempty(lambda: ["to_q", "to_k", "to_v", "to_out.0"])
    # bf16 autocast of the UNet on CUDA (LoRA weights stay float32); CPU always runs float32.
    autocast: bool = True
    # With autocast, bf16 on the CPU as well: not a speed option but a precision study (what bf16 does
    # to learning, measured on the mini profile by benchmarks/bf16_learning.py); off, CPU runs float32.
    cpu_bf16: bool = False
    # On CUDA, float32 matmuls and convolutions in TF32 (process-wide; no effect on CPU).
    tf32: bool = True
    # UNet weights and activations in channels_last memory format (same math, another conv layout).
    channels_last: bool = False
    # torch.compile the UNet's forward (the first epoch pays the compilation).
    compile: bool = False
    # Models notebook 04 trains at once, each in its own process with one torch thread (on a small
    # CPU two processes beat two threads in one); 1 = one after another in the notebook's process.
    processes: int = positive(1)
    # TensorBoard logs in each run's folder (tensorboard/): every epoch's metrics as scalars. A view
    # of metrics.csv, which stays the record; like the speed options it may change between resumes.
    tensorboard: bool = True
    # Every this many epochs, those logs also get a grid of the epoch's samples with their prompts
    # and rewards, and the run keeps its first 4 samples (samples.pt; also of the first and last
    # epochs) for notebook 04's grid of training samples (0: never).
    log_images_every: int = non_negative(10)
    # Seed of the adapters' initialisation, the prompts, the sampling noise and the shuffling.
    seed: int = non_negative(0)
    # Seeds to train every model with, for the spread from run to run (empty: `seed` alone). It must
    # hold `seed`, whose run is the model the later notebooks use; each other seed's run goes to
    # data/<profile>/ddpo_seeds/<model>-seed<k>/, and every table of a rise adds a bootstrap
    # interval over the seeds.
    seeds: list[int] = non_negative(factory=list)


@dataclass
class CanConfig:
    # Image size the CAN is built for (the extended paper's four architectures); data is resized to it.
    image_size: Literal[64, 128, 256, 512] = 512
    # Training epochs (full passes over the dataset, unless max_steps_per_epoch cuts them short).
    epochs: int = positive(50)
    # Real images (and as many generated ones) per step; the reference code used 4.
    batch_size: int = positive(4)
    # At most this many steps per epoch; null = the whole dataset (paper). Tiny caps it for time.
    max_steps_per_epoch: int | None = positive(None)
    # Adam learning rate and betas, for both networks.
    lr: float = above_zero(2e-4)
    beta1: float = decay(0.5)
    beta2: float = decay(0.999)
    # Weight of the generator's style-ambiguity term, BCE(softmax(style), 1/N).
    style_weight: float = 0.1
    # Length of the generator's noise vector z ~ N(0, I).
    z_dim: int = positive(100)
    # Channels of the generator's first 4 x 4 maps (halved at every doubling); the paper's is 2048.
    # Only the generator shrinks with it: the discriminator, the classifier we keep, is the paper's.
    generator_channels: int = positive(2048)
    # TensorBoard logs beside the checkpoint (tensorboard/): every epoch's losses as scalars, and
    # every log_images_every epochs (0: never) the generator's images of 8 fixed z, each captioned
    # with the discriminator's likeliest style. losses.csv stays the record.
    tensorboard: bool = True
    log_images_every: int = non_negative(5)
    # Seed of the initial weights, the data order and the noise.
    seed: int = non_negative(0)


EvalRow = Literal[ModelName, "base"]  # Table I's rows: the six models, then the untrained baseline
EVAL_ROWS = typing.get_args(EvalRow)


@dataclass
class EvaluationConfig:
    # Models to evaluate, in table order ("base" = Stable Diffusion before any DDPO).
    models: list[EvalRow] = nonempty(lambda: list(EVAL_ROWS))
    # Images per model; image i uses prompt i mod 24 and seed i, identical across models.
    images: int = positive(200)
    # DDIM steps (the same DDIM scheduler for every model).
    steps: int = positive(30)
    # Classifier-free guidance scale.
    guidance_scale: float = non_negative(7.5)
    # DDIM eta in [0, 1] (0 = deterministic given the seed).
    eta: float = fraction(0.0)
    # Images per generation batch (seeds are per image, so this does not change the images).
    batch_size: int = positive(8)
    # Models whose images are made at once, each in a worker process with one torch thread and, on a
    # machine with GPUs, its own GPU (as ddpo.processes); the same images. 1 = in turn, in the notebook.
    processes: int = positive(1)
    # Images per scoring batch (AVA, ImageReward, CLIP).
    score_batch_size: int = positive(32)
    # Cosine distance (CLIP image embeddings) to the nearest dataset image below which an evaluation
    # image counts as a near-copy in the memorisation check of the creativity proxies.
    memorisation_threshold: float = fraction(0.05)
    # Figure 1's rows: indices into the evaluation set (each row: one prompt and seed, all models).
    figure_images: list[int] = non_negative(factory=lambda: [0, 9, 18, 3, 12, 23], nonempty=True)


@dataclass
class UserStudyConfig:
    # Models rated, in Table II's order (the paper's six; the untrained base was not rated).
    models: list[ModelName] = nonempty(lambda: list(MODEL_NAMES))
    # Indices into the evaluation set: the same five prompts and seeds for every model (paper: 5 images).
    image_indices: list[int] = non_negative(factory=lambda: [0, 5, 10, 15, 20], nonempty=True)
    # Seed of the kit's shuffled order and anonymous image ids.
    seed: int = non_negative(0)
    # Coverage of Table II's intervals over raters (the clustered Student t and the rater bootstrap).
    confidence: float = probability(0.95)
    # Simulated raters in the synthetic example file used when no human responses exist.
    synthetic_raters: int = positive(25)
    # Resamples of the rater-level bootstrap interval beside the clustered one (scipy.stats.bootstrap).
    bootstrap_resamples: int = positive(9999)
    # The consent text raters read (and agree to) before anything else; put your ethics board's here.
    consent: str = (
        "This study is part of research on images made by generative models. You will rate images on "
        "five questions each; it takes about 15 minutes. Taking part is voluntary, and you may stop at "
        "any time. We store your answers, the time each page took and the participant and study ids "
        "of your recruitment platform; nothing else about you. The answers are used for research "
        "only and published only as averages over all raters."
    )
    # URL parameters the recruitment platform adds to the study link (Prolific's by default). The
    # first names the participant; the others are stored beside it. Without the first, the server
    # assigns a random id.
    participant_parameters: list[str] = nonempty(lambda: ["PROLIFIC_PID", "STUDY_ID", "SESSION_ID"])
    # One attention-check page per entry, which instructs this answer (1-5); [] for none.
    attention_answers: list[int] = bounded(1, 5, factory=lambda: [2, 4])
    # Table II leaves out a rater who failed more attention checks than this (0: any failure).
    max_failed_checks: int = non_negative(0)
    # Code shown on the last page, for the platform (Prolific's completion code); "" derives one from the kit.
    completion_code: str = ""
    # Where the last page sends raters (Prolific's completion URL); "" for nowhere.
    completion_url: str = ""
