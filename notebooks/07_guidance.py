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
# # 07 · Style ambiguity without fine-tuning: one-step guidance and DOODL (Table III)
#
# DDPO (notebook 04) fine-tunes the model until its images are ambiguous. The reward it trains on is
# differentiable end to end: CLIP, then the style logits, then $-\mathrm{CE}$ against the uniform
# distribution, plus $\lambda_{util}$ times the prompt's CLIP cosine. So a *frozen* model can be steered
# by the reward's gradient at sampling time instead (seed 004, DOODL, Wallace et al. 2023):
#
# * **One-step classifier guidance.** At every DDIM step the UNet's one-step estimate
#   $\hat x_0(x_t) = (x_t - \sqrt{1-\bar\alpha_t}\,\epsilon)/\sqrt{\bar\alpha_t}$ is decoded and scored, and the
#   noise estimate is moved along the reward's gradient:
#   $\epsilon \leftarrow \epsilon - s\sqrt{1-\bar\alpha_t}\,\nabla_{x_t} R(\mathrm{decode}(\hat x_0))$, the scheme of
#   diffusers' community `clip_guided_stable_diffusion` pipeline with our reward in place of its CLIP
#   loss. The gradient is that of an *estimate* of the final image, which can point elsewhere. With
#   `guidance.onestep_normalise` each image's gradient is first scaled to unit root-mean-square element.
# * **DOODL.** Optimise the initial noise $x_T$ by the gradient of the reward of the *final* image,
#   back-propagated through the whole chain. EDICT's exactly invertible coupled sampler (mixing
#   $p = 0.93$) lets the backward pass rebuild every intermediate state from the last one instead of
#   storing it, so memory does not grow with the number of steps. Each step is clipped element-wise,
#   taken with momentum 0.9 and a small perturbation, and $x_T$ is renormalised onto its Gaussian shell
#   (the original draw's norm); the reward is averaged over random crops (16 in the paper). With
#   `guidance.doodl_backtrack` an image whose reward fell goes back to its best point with half the
#   step, and its best point's image is kept (not the reference's; no extra UNet evaluations).
#
# Both use the reward each DDPO model trains on, for all six classifiers, and are evaluated on notebook
# 05's protocol with its own generation and scoring code: image $i$ has prompt $i \bmod 24$ and seed $i$,
# DDIM with $\eta = 0$, and each row's ambiguity rise is measured image by image against the untrained
# model's image with the same prompt and seed (95% t interval). A guided method may run on the first
# images of the protocol only (DOODL costs many full chains per image): its row names the subset and its
# interval is computed on it. Cost is seconds and UNet evaluations per image; for the DDPO models, their
# training is spread over the evaluation's images.
#
# In the tiny profile the models are random and everything is a pipeline check; in the mini profile the
# numbers are a miniature world's, not the paper's. Captions say which.
#
# **Needs:** notebook 05's images and scores of `base` and the DDPO models, notebooks 02–03's classifiers,
# notebook 04's timings. **Writes:** `data/<profile>/guidance/<method>-<classifier>[-<setting>]/`
# (`images/`, `manifest.csv` with its provenance, `scores.csv`, `cost.json`),
# `figures/<profile>/table3.{md,csv,tex}`, `figures/<profile>/guidance_sweep.{md,csv,tex,png,pdf}`,
# `figures/<profile>/guidance_grid.{png,pdf}`.

# %% tags=["parameters"]
profile = "tiny"  # a profile in params/ by name, or the path of a YAML file
overrides = {}  # settings merged over the profile's, by section: {"guidance": {"doodl_steps": 5}}

# %%
import dataclasses

import numpy as np
import pandas as pd
import torch
from IPython.display import display
from PIL import Image

from clipcreate_lib import artifacts, config, figures, session, tables
from clipcreate_lib.evaluation import generation, scoring
from clipcreate_lib.figures import guidance_plots, result_plots
from clipcreate_lib.guidance import runs, table3
from clipcreate_lib.guidance.pipeline import GuidedPipeline
from clipcreate_lib.models import loaders
from clipcreate_lib.paths import guidance_files
from clipcreate_lib.styles import classifiers

cfg = session.start(profile, overrides)
print(config.describe(cfg, "reward", "evaluation", "guidance"))
protocol, g = cfg.evaluation, cfg.guidance
clip, processor = loaders.load_clip(cfg)
style_classifiers = {
    name: classifiers.load(*classifiers.split_model_name(name), cfg, clip) for name in config.MODEL_NAMES
}
scorer = runs.protocol_scorer(cfg, clip, processor, style_classifiers)
pipe = loaders.load_stable_diffusion(cfg)
onestep_images, doodl_images = min(g.onestep_images, protocol.images), min(g.doodl_images, protocol.images)
print(
    f"profile {cfg.profile}: one-step guidance on {onestep_images} and DOODL on {doodl_images} of the protocol's "
    f"{protocol.images} images, {protocol.steps} DDIM steps, classifier-free guidance {protocol.guidance_scale}"
)

# %% [markdown]
# ## The protocol's images: the untrained model and the DDPO models
#
# Notebook 05's images and scores, read back once their manifests say they were made with this
# profile's evaluation settings. The guided sampler at scale 0 is plain DDIM: on the first batch it
# must redraw the untrained model's images exactly (its pixels are compared below), and its time per
# image is the untrained model's cost.

# %%
sets, scored, embeddings = {}, {}, {}
for name in ["base", *g.classifiers]:
    folder, manifest = runs.protocol_set(cfg, name)
    sets[name] = (folder, manifest)
    scored[name] = pd.read_csv(folder / scoring.SCORES).iloc[: len(manifest)]
    embeddings[name] = runs.image_embeddings(folder, manifest, clip, processor, protocol.score_batch_size)
base, base_embeddings = scored["base"], embeddings["base"]

plain = GuidedPipeline(pipe, "onestep", None, dataclasses.replace(g, onestep_scale=0.0), 0)
first = list(range(min(g.batch_size, protocol.images)))
redrawn = plain(
    [generation.prompt(i) for i in first],
    protocol.steps,
    protocol.guidance_scale,
    protocol.eta,
    generator=[torch.Generator().manual_seed(i) for i in first],
).images
stored = generation.load_images(sets["base"][0], sets["base"][1].iloc[first])
difference = np.abs(
    np.stack([np.asarray(im, int) for im in redrawn]) - (stored.permute(0, 2, 3, 1).numpy() * 255).round()
)
sampling_cost = plain.cost.per_image()
print(
    f"scale 0 against notebook 05's first {len(first)} untrained images: "
    f"largest pixel difference {difference.max():.0f} / 255"
)
print(
    f"untrained model: {sampling_cost['seconds_per_image']:.3f} s and "
    f"{sampling_cost['unet_evals_per_image']:.0f} UNet evaluations per image"
)

rows = [table3.row("base", "", base, base_embeddings, base, base_embeddings, sampling_cost, protocol.images)]
for name in g.classifiers:
    cost = runs.ddpo_cost(cfg, name, sampling_cost)
    rows.append(table3.row("ddpo", name, scored[name], embeddings[name], base, base_embeddings, cost, protocol.images))

# %% [markdown]
# ## The guided images
# Each method and classifier makes the first images of the protocol into its own folder, through notebook
# 05's `generation.generate` (same prompts, seeds and files; a set made alike before is reused), and is
# scored by notebook 05's `scoring.score`: AVA, ImageReward, prompt alignment and the ambiguity under all
# six classifiers. The sweep's sets (below) are made here too, so that `guidance.processes` can make
# every set at once in worker processes (DOODL's first: they take longest).

# %%
name, sweep_count = g.sweep_classifier, min(g.sweep_images, protocol.images)
main_sets = {
    (method, classifier): runs.GuidedSet(method, classifier, count, guidance_files.guidance_dir(method, classifier))
    for method, count in (("doodl", doodl_images), ("onestep", onestep_images))
    for classifier in g.classifiers
}
sweep_sets = {}  # ('sweep', method, value) -> a sweep point that is neither a main set nor the untrained model
for method, values, key, main in (
    ("onestep", g.sweep_scales, "onestep_scale", g.onestep_scale),
    ("doodl", g.sweep_steps, "doodl_steps", g.doodl_steps),
):
    for value in values:
        reused = (method, name) in main_sets and value == main and sweep_count <= main_sets[method, name].images
        if not reused and not (method == "onestep" and value == 0):
            folder = guidance_files.guidance_dir(method, name, f"{key.split('_')[1]}{value:g}")
            sweep_sets["sweep", method, value] = runs.GuidedSet(method, name, sweep_count, folder, {key: value})
manifests = runs.make_sets(cfg, {**main_sets, **sweep_sets}, pipe, clip, processor)

guided_scores = {}
for method, classifier in ((m, c) for m in ("onestep", "doodl") for c in g.classifiers):
    job = main_sets[method, classifier]
    guided_scores[method, classifier], guided_embeddings = scorer(job.folder, manifests[method, classifier])
    cost = runs.set_cost(job.folder)
    rows.append(
        table3.row(
            method,
            classifier,
            guided_scores[method, classifier],
            guided_embeddings,
            base,
            base_embeddings,
            cost,
            protocol.images,
        )
    )
    print(f"{method} {classifier}: {job.images} images, {cost['seconds_per_image']:.2f} s per image")

# %% [markdown]
# ## Table III
#
# Every row against the untrained model on the same prompts and seeds. "Diversity (base)" is the mean
# pairwise CLIP cosine distance of the row's images and, in brackets, of the untrained model's images with
# the same indices: a row far below its bracket draws one background for every prompt (what the DDPO models
# do in the mini profile). "Held-out judges agreeing" counts the judges of notebook 05 (text, k-means and
# a linear probe in the space of a CLIP no reward saw) under which the row's rise is above the noise
# too: guidance follows one CLIP's gradient, so a rise no judge sees is that CLIP fooled. The second
# table is each row's mean ambiguity under every classifier and judge: does the ambiguity one
# classifier was raised towards transfer to the others?

# %%
note = figures.profile_note(cfg.profile)
table = pd.DataFrame(rows)
caption = (
    f"Table III. Style ambiguity at sampling time against fine-tuning: each row's ambiguity under its own "
    f"classifier minus the untrained model's on the same (prompt, seed) pairs (mean, 95% t interval), diversity, "
    f"the held-out judges (judge CLIP {loaders.model_name(cfg.models, 'judge_clip')}) under which the rise is "
    f"above the noise too, prompt alignment, AVA, ImageReward and cost per image (DDPO: its training spread "
    f"over {protocol.images} images). One-step guidance scale {g.onestep_scale:g}"
    f"{' (unit-rms gradient)' if g.onestep_normalise else ''}; DOODL {g.doodl_steps} steps, lr {g.doodl_lr:g}, "
    f"clip {g.doodl_clip:g}{', backtracking' if g.doodl_backtrack else ''}, {g.doodl_crops} crops; "
    f"DDIM eta {protocol.eta}, {protocol.steps} steps, guidance {protocol.guidance_scale}. {note}."
)
files = tables.write(table, table3.display(table), guidance_files.table3_stem(), caption, "tab:table3")
print(caption, *files, sep="\n")
display(table3.display(table))
display(table3.transfer_display(table))

# %% [markdown]
# ## The sweep: ambiguity against each method's setting
#
# For the sweep's classifier, the rise over the untrained model on the first `guidance.sweep_images`
# images as one-step guidance's scale grows (scale 0 is the untrained model itself) and as DOODL takes
# more optimisation steps (0 steps is EDICT's own image of the untouched noise: how far the coupled
# sampler alone moves the ambiguity). A point that is the main setting reuses the main set.

# %%
points = []
for method, values in (("onestep", g.sweep_scales), ("doodl", g.sweep_steps)):
    for value in values:
        if ("sweep", method, value) in sweep_sets:
            point = scorer(sweep_sets["sweep", method, value].folder, manifests["sweep", method, value])[0]
        elif method == "onestep" and value == 0:
            point = base
        else:
            point = guided_scores[method, name]
        points.append(table3.sweep_point(method, value, point[point["index"] < sweep_count], base, name))
sweep = pd.DataFrame(points)
caption = (
    f"Ambiguity under {name} against each guided method's setting, paired with the untrained model's images; {note}."
)
files = tables.write(
    sweep, table3.sweep_display(sweep), guidance_files.guidance_sweep_stem(), caption, "tab:guidance_sweep"
)
fig = guidance_plots.sweep(sweep, cfg.profile)
for path in guidance_files.guidance_sweep_files():
    artifacts.save_figure(path, fig, dpi=150)
print(caption, *files, *guidance_files.guidance_sweep_files(), sep="\n")
display(table3.sweep_display(sweep))

# %% [markdown]
# ## The image grid
#
# Each row one prompt and seed; the columns the untrained model, the DDPO model of the sweep's classifier
# and the two guided methods with the same classifier.

# %%
columns = {"untrained": sets["base"][0]}
if name in sets:
    columns[f"DDPO {name}"] = sets[name][0]
columns[f"one-step {name}"] = guidance_files.guidance_dir("onestep", name)
columns[f"DOODL {name}"] = guidance_files.guidance_dir("doodl", name)
shown = [i for i in g.grid_images if i < min(onestep_images, doodl_images)]
grid = {
    label: [np.asarray(Image.open(folder / "images" / f"{i:05d}.png").convert("RGB")) for i in shown]
    for label, folder in columns.items()
}
fig = result_plots.figure1(grid, [f"{generation.prompt(i).strip()}\n(seed {i})" for i in shown], cfg.profile)
for path in guidance_files.guidance_grid_files():
    artifacts.save_figure(path, fig, dpi=150)
print("outputs:", *guidance_files.guidance_grid_files())
