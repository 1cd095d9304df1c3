# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · DDPO: six models trained towards style ambiguity
#
# Each model fine-tunes Stable Diffusion with DDPO (§III-B) against the reward
#
# $$R(x) = \lambda_{nov}\,\big(-\mathrm{CE}(C(x), U)\big)
#        + \lambda_{util}\,\cos\big(\mathrm{CLIP}(s), \mathrm{CLIP}(x)\big),$$
#
# where $C(x)$ is the softmax of a style classifier's logits and $U$ the uniform distribution over its
# $N$ classes. $-\mathrm{CE}(C(x), U)$ is at most $-\log N$, reached exactly when the classifier cannot
# tell the styles apart. **The paper's printed formula drops this minus sign**; its TL;DR and the
# reference code both maximise $-\mathrm{CE}$, and so do we. $\lambda_{nov} = 1$, $\lambda_{util} = 0.25$.
#
# Three classifiers × two label sets = six models: `disc` (the CAN discriminator of notebook 03),
# `clip` (CLIP similarity to each style name) and `kmeans` (inverse distances to the centroids of
# notebook 02), each on `full` (27 styles) and `med` (the 10 mediums styles).
#
# Where we differ from the reference code, on purpose:
#
# * it **always added ImageReward** to the training reward through a flag that could not be turned
#   off, while ImageReward is also an evaluation metric; we use the paper's formula, and
#   `reward.image_reward_weight` (0 by default) reproduces the as-run behaviour only when asked;
# * it scored with the CAN discriminator **in training mode** (BatchNorm and Dropout made the reward
#   depend on the rest of the batch); our `disc` classifier is always in eval mode;
# * it **overrode `--seed`**, and its resume **trained a full extra run**; here the seed is honoured
#   and a rerun continues from the last epoch's checkpoint, ending in the same weights as an
#   uninterrupted run;
# * it used trl's `DDPOTrainer`, which trl removed after 0.23.1; ours is a small DDPO core
#   (`clipcreate_lib.ddpo`) checked against trl 0.23.1 in `tests/test_trl_parity.py`.
#
# Settings follow the reference code (docs/method.md): LoRA r = 4 on the UNet's attention projections,
# 10 DDIM steps at eta = 1, guidance 5, 32 images per epoch, AdamW 3e-4, PPO clip 1e-4, per-prompt
# reward normalisation; the paper trains 100 epochs. The tiny profile runs a few epochs of the same
# loop on random models: its curves show the machinery works, not the paper's result.

#
# **Needs:** notebook 01's datasets, notebook 02's centroids and text labels, notebook 03's
# discriminators; the profile's `models`, `reward`, `ddpo` and `draft` settings. **Writes:**
# `data/<profile>/ddpo/<model>/` for each model of `ddpo.models` (`checkpoint.pt`, `metrics.csv`,
# `timings.csv`, `samples.pt`, `trained.json` and the trained weights: `lora/` or `unet/`; with several
# `ddpo.seeds`, the other seeds' runs in `data/<profile>/ddpo_seeds/<model>-seed<k>/`), the same
# in `data/<profile>/draft/<model>/` for each model of `draft.models` (trained by DRaFT),
# `figures/<profile>/ddpo_rewards.png`, `figures/<profile>/ddpo_samples.png`,
# and the k-means temperature study (`data/<profile>/ddpo/kmeans_temperature.csv`,
# `figures/<profile>/kmeans_temperature.png`).

# %% tags=["parameters"]
profile = "tiny"  # a profile in params/ by name, or the path of a YAML file
overrides = {}  # settings merged over the profile's, by section: {"ddpo": {"epochs": 5, "models": ["clip-med"]}}

# %%
import math

import numpy as np
import pandas as pd
import torch
from IPython.display import display

from clipcreate_lib import artifacts, config, paths, session
from clipcreate_lib.ddpo import policy, ppo, precision, records, runs
from clipcreate_lib.figures import training_plots
from clipcreate_lib.models import clip_space, loaders
from clipcreate_lib.styles import classifiers, rewards

cfg = session.start(profile, overrides)
print(config.describe(cfg, "models", "reward", "ddpo", "draft"))
clip, processor = loaders.load_clip(cfg)
print(
    f"profile {cfg.profile}: {len(cfg.ddpo.models)} models, {cfg.ddpo.epochs} epochs of "
    f"{cfg.ddpo.sample_batches * cfg.ddpo.sample_batch_size} images"
)

# %% [markdown]
# ## One DDPO step by hand (§III-A, §III-B)
#
# Before the trainer runs, the pieces of one step on a small batch, with the untrained model and the
# first model's reward. DDPO treats the DDIM sampling chain as an MDP: each step
# $x_t \to x_{t-1}$ is a Gaussian action, and `policy.sample` records every latent and each step's
# log-probability (averaged over the latent's dimensions). The reward scores the decoded images; the
# per-prompt stat tracker turns rewards into advantages $A = (r - \mu_{prompt}) / \sigma_{prompt}$
# (the batch's statistics while a prompt has fewer than `stat_min_count` rewards); and the PPO loss
# of a step is $\max(-A\,\rho, -A\,\mathrm{clip}(\rho, 1 \pm \epsilon))$ with $\rho$ the ratio of the
# current policy's probability of that step to the sampling policy's. Before any update the two
# policies are the same, so $\rho = 1$ and the loss is $-\bar A$: its gradient is the plain policy
# gradient. The trainer below repeats this for every batch, timestep and epoch, and steps AdamW on it.

# %%
base = loaders.load_stable_diffusion(cfg)
name = cfg.ddpo.models[0]
reward_fn = rewards.reward_fn(
    classifiers.load(*classifiers.split_model_name(name), cfg, clip),
    clip,
    processor,
    cfg.reward,
    loaders.load_image_reward(cfg) if cfg.reward.image_reward_weight else None,
)
step = policy.Policy(
    base,
    cfg.ddpo.prompts,
    cfg.ddpo.sample_steps,
    cfg.ddpo.guidance_scale,
    cfg.ddpo.eta,
    cfg.ddpo.timesteps_per_pass,
    precision.unet_autocast(base.device, cfg.ddpo.autocast),
)
prompt_index = torch.arange(4) % len(cfg.ddpo.prompts)
trajectory = step.sample(prompt_index, torch.Generator(base.device).manual_seed(0))
print(
    f"latents {tuple(trajectory.latents.shape)} (images, steps + 1, channels, h, w); "
    f"log-probs {tuple(trajectory.log_probs.shape)}; images {tuple(trajectory.images.shape)}"
)
print("log-prob of each step, image 0:", trajectory.log_probs[0].cpu().numpy().round(3))
prompt_texts = [cfg.ddpo.prompts[i] for i in prompt_index.tolist()]
terms = reward_fn(trajectory.images, prompt_texts)
advantages = ppo.PerPromptStatTracker(cfg.ddpo.stat_buffer_size, cfg.ddpo.stat_min_count).update(
    prompt_texts, terms["reward"].cpu().double().numpy()
)
display(
    pd.DataFrame(
        {"prompt": prompt_texts, **{k: v.cpu().numpy() for k, v in terms.items()}, "advantage": advantages}
    ).round(4)
)
with torch.no_grad():
    js = step.passes(trajectory.timesteps)[0]
    rescored = step.log_probs(
        trajectory.latents,
        trajectory.timesteps.to(base.device),
        js,
        step.prompt_embeddings[prompt_index.to(base.device)],
    )
    advantage = torch.as_tensor(advantages, dtype=torch.float32).repeat_interleave(len(js))
    loss, kl, clipfrac = ppo.ppo_loss(
        rescored,
        trajectory.log_probs[:, js].flatten(),
        advantage,
        cfg.ddpo.clip_range,
        cfg.ddpo.adv_clip_max,
        cfg.ddpo.log_ratio_limit,
    )
print(
    f"PPO loss of steps {js.tolist()} before any update: {loss.item():.6f} (-mean(A) = "
    f"{-advantage.clamp(-cfg.ddpo.adv_clip_max, cfg.ddpo.adv_clip_max).mean().item():.6f}), "
    f"approx KL {kl.item():.1e}, clip fraction {clipfrac.item():.2f}"
)
del base, step, reward_fn  # the trainer loads its own

# %% [markdown]
# ## Training
#
# One model at a time, or `ddpo.processes` at a time in worker processes with one torch thread each
# (on a small CPU that is faster than two threads in one process). ImageReward enters the reward only
# when `reward.image_reward_weight` asks for it. Each run writes into `data/<profile>/ddpo/<model>/` after every
# epoch: `checkpoint.pt` (adapter weights, optimiser, per-prompt statistics, random-generator states),
# then `metrics.csv` (each reward term's mean and std, the PPO loss, approximate KL, clip fraction, samples dropped
# for a non-finite reward, updates skipped for a non-finite loss or gradient) and `timings.csv` from it; when its
# epochs are done, the adapter in diffusers' format for notebook 05. A run stopped at any moment goes on from its
# last epoch when this cell runs again; a run that is complete is not trained again; one made with other settings
# stops with a message instead of mixing the two.

# %%
metrics = runs.train_all(cfg, cfg.ddpo.models, clip, processor)
n_classes = {name: len(classifiers.load(*classifiers.split_model_name(name), cfg, clip).labels) for name in metrics}
for name, m in metrics.items():
    last = m.iloc[-1]
    print(
        f"{name}: {len(m)} epochs, last epoch reward {last['reward_mean']:.4f}, ambiguity "
        f"{last['ambiguity_mean']:.4f} (max {-math.log(n_classes[name]):.4f}), utility {last['utility_mean']:.4f}"
    )

# %% [markdown]
# ## A second optimiser: DRaFT
#
# The reward is differentiable, so besides DDPO's policy gradient, which learns from reward values
# alone, the models of `draft.models` are also trained by DRaFT-K (Clark et al.; AlignProp is the
# same idea): each batch is sampled with the autograd graph kept through its last $K$ = `draft.steps`
# DDIM steps, decoded and scored, and AdamW steps on $-\overline{R}$ through that graph. Prompts,
# guidance, eta, seeds, LoRA and AdamW are the `ddpo` section's; each run writes the same files into
# `data/<profile>/draft/<model>/`, and resumes as a DDPO run does. `benchmarks/optimisers.py` compares
# the two optimisers (images to DDPO's final ambiguity, diversity); docs/optimisers.md has the mini results.

# %%
draft_metrics = runs.train_all(cfg, cfg.draft.models, clip, processor, draft=True) if cfg.draft.models else {}
for name, m in draft_metrics.items():
    ddpo_last = f"{metrics[name]['ambiguity_mean'].iloc[-1]:.4f}" if name in metrics else "not trained"
    print(
        f"{name} by DRaFT-{cfg.draft.steps}: {len(m)} epochs, ambiguity {m['ambiguity_mean'].iloc[0]:.4f} "
        f"-> {m['ambiguity_mean'].iloc[-1]:.4f} (DDPO's last epoch: {ddpo_last})"
    )
if not draft_metrics:
    print("no DRaFT model asked for (draft.models is empty)")

# %% [markdown]
# ## Reward curves
#
# Each panel is one model: the total reward and the ambiguity term (left axis, with the ceiling
# −log N dashed) and the utility term (right axis), mean ± std over each epoch's samples. Epoch 1 is
# scored before any update, so it is the untrained model's reward.

# %%
artifacts.save_figure(paths.ddpo_rewards_plot(), training_plots.ddpo_rewards(metrics, n_classes, cfg.profile), dpi=150)
summary = pd.DataFrame(
    [
        {
            "model": name,
            "epochs": len(m),
            "reward first": m["reward_mean"].iloc[0],
            "reward last": m["reward_mean"].iloc[-1],
            "ambiguity first": m["ambiguity_mean"].iloc[0],
            "ambiguity last": m["ambiguity_mean"].iloc[-1],
            "approx KL (last)": m["approx_kl"].iloc[-1],
            "skipped updates": int(m["skipped_steps"].sum() + m["skipped_terms"].sum()),
        }
        for name, m in metrics.items()
    ]
)
print("outputs:", paths.ddpo_rewards_plot(), *(paths.ddpo_dir(name) for name in metrics))
summary

# %% [markdown]
# ## Training samples
#
# Each run keeps the first four images of its first epoch, of every `ddpo.log_images_every`-th and of
# its last (`samples.pt` in its folder). One row per model, one column per kept epoch: a model that
# collapses to one picture for every prompt shows it here as its row's cells turn alike.

# %%
kept = {name: records.load_samples(paths.ddpo_dir(name)) for name in metrics}
kept = {name: samples for name, samples in kept.items() if samples}
if kept:
    artifacts.save_figure(paths.ddpo_samples_plot(), training_plots.ddpo_samples(kept, cfg.profile), dpi=150)
    print("outputs:", paths.ddpo_samples_plot(), f"({len(kept)} of {len(metrics)} runs kept samples)")
else:
    print("no run kept samples: ddpo.log_images_every is 0, or the runs were trained before samples.pt existed")

# %% [markdown]
# ## Did the style ambiguity rise?
#
# The ambiguity term's mean over the last $w$ epochs minus its mean over the first $w$ ($w$ = a quarter
# of the epochs, at least 2), with a 95% Welch interval that counts each epoch's mean as one draw.
# Every epoch scores fresh samples, so the spread between neighbouring epochs is the noise a rerun of
# an epoch would show; an interval above 0 is a rise larger than that noise.

#
# With more than one seed in `ddpo.seeds`, every model is trained again with each other seed (into
# `data/<profile>/ddpo_seeds/<model>-seed<k>/`, resumable like the runs above), and the table adds the
# mean rise over the seeds with a 95% percentile bootstrap interval over them: the noise between runs,
# which the interval over epochs of one run does not see.

# %%
seeded = runs.seed_runs(cfg, cfg.ddpo.models, clip, processor)
epochs_done = min(len(m) for m in metrics.values())
window = runs.rise_window(epochs_done)
if epochs_done < 2 * window:
    print(f"{epochs_done} epochs are too few to compare a first and a last window of {window} epochs.")
else:
    rises = runs.rise_table(metrics, seeded)
    print(f"ambiguity: mean of the last {window} epochs minus the first {window}, 95% interval [low, high]")
    if seeded:
        print(f"over the seeds {cfg.ddpo.seeds}: mean rise [seed_low, seed_high], 95% bootstrap over seeds")
    display(rises)

# %% [markdown]
# ## The k-means temperature
#
# The k-means classifier's logits are $1/(T\,\lVert E(x) - c_j\rVert)$, with $T = 1$ in the reference code
# (`reward.kmeans_temperature` here). These logits change fast near a centroid and slowly far from all
# of them, so how flat the softmax is, and with it how much the ambiguity reward can tell images
# apart, depends on where the images lie as much as on $T$. Below, its mean entropy (divided by
# $\log k$, so 1 = flat = the ambiguity ceiling) against $T$, on the dataset's own images and on
# images of the untrained model for the training prompts, which are what DDPO first scores: a
# profile whose k-means models did not rise can read here whether their reward had room to move.

# %%
base = loaders.load_stable_diffusion(cfg)
prompts = [cfg.ddpo.prompts[i % len(cfg.ddpo.prompts)] for i in range(12)]
with torch.inference_mode():
    samples = base(
        prompt=prompts,
        num_inference_steps=cfg.ddpo.sample_steps,
        guidance_scale=cfg.ddpo.guidance_scale,
        output_type="pt",
        generator=[torch.Generator().manual_seed(i) for i in range(len(prompts))],
    ).images
    generated = clip_space.image_embeddings(samples.float(), clip, processor).cpu().float()
del base
temperatures = sorted({2.0, 1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, cfg.reward.kmeans_temperature}, reverse=True)
sweep = []
for dataset in ("full", "mediums"):
    centres = torch.from_numpy(np.load(paths.centroids_file(dataset))).float()
    for images, emb in (
        ("dataset", torch.from_numpy(np.load(paths.embeddings_file(dataset))).float()),
        ("base-model samples", generated),
    ):
        sweep += [
            {"dataset": dataset, "images": images, **row}
            for row in rewards.kmeans_temperature_sweep(emb, centres, temperatures)
        ]
sweep = pd.DataFrame(sweep)
artifacts.save_csv(paths.kmeans_temperature_table(), sweep)
artifacts.save_figure(
    paths.kmeans_temperature_plot(),
    training_plots.kmeans_temperature(sweep, cfg.reward.kmeans_temperature, cfg.profile),
    dpi=150,
)
print("outputs:", paths.kmeans_temperature_table(), paths.kmeans_temperature_plot())
sweep[sweep["temperature"].isin([1.0, cfg.reward.kmeans_temperature])].round(4)
