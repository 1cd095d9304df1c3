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
# # 05 · Evaluation: Table I, creativity proxies and Figure 1
#
# The protocol of §IV-A (docs/method.md): every model, and the untrained Stable Diffusion (`base`), makes
# the same 200 images: image $i$ uses prompt $i \bmod 24$ and seed $i$, where the 24 prompts join one of
# *painting, art, drawing* with one of eight subjects, exactly as the paper spells them. All models use
# one scheduler, DDIM with $\eta = 0$, 30 steps and guidance 7.5. The images are then scored by two
# measures of human appreciation:
#
# * **AVA aesthetic score**: CLIP ViT-L/14 image features, L2-normalised, into the MLP of
#   `trl-lib/ddpo-aesthetic-predictor` (768 → 1024 → 128 → 64 → 16 → 1);
# * **ImageReward** (`ImageReward-v1.0`): BLIP's image encoder, its text encoder cross-attending to the
#   image while reading the prompt, and an MLP head. Its PyPI package cannot run beside this stack, so
#   `clipcreate_lib.image_reward` ports the scorer onto transformers' BLIP classes and loads the released
#   `ImageReward.pt` through a key mapping; a test reproduces the original code's scores.
#
# Table I reports mean (std) per model. Beyond the paper, a second table gives automated creativity
# proxies: the style ambiguity of the images under each of the six classifiers (the quantity the
# models were trained to raise, $-\mathrm{CE}$, at most $-\log N$), their diversity (mean pairwise
# cosine distance of CLIP embeddings) and their prompt alignment (CLIP cosine of image and prompt).
#
# Where we differ from the reference code, on purpose: it sampled the **untrained baseline with its
# default scheduler** and the trained models with DDIM; here every model uses the same DDIM scheduler.
# It also **added ImageReward to the training reward** (notebook 04), so its IR column partly measured
# what had been optimised; ours trains without IR unless `reward.image_reward_weight` asks for it.
#
# In the tiny profile the models are small and random and the images are 32 px: the numbers check the
# pipeline, they are not the paper's results, and every caption says so. The tiny profile also uses 10
# DDIM steps instead of 30 and 120 images instead of 200 (five per prompt); the prompts and the
# seeds are the paper's.
#
# **Needs:** notebook 04's trained models (and notebooks 02–03's classifiers, to score ambiguity);
# the AVA and ImageReward weights from the hub (paper profile). **Writes:**
# `data/<profile>/eval/<model>/` (`images/`, `manifest.csv` with its provenance, `scores.csv`; the same
# for other `ddpo.seeds` in `data/<profile>/eval_seeds/<model>-seed<k>/`),
# `figures/<profile>/table1.{md,csv,tex}`, `figures/<profile>/table1_proxies.{md,csv,tex}`,
# `figures/<profile>/ambiguity_rise.{md,csv,tex}`, `figures/<profile>/judges.{md,csv,tex}` (the held-out
# judges), `figures/<profile>/{ambiguity_rise,transfer,score_distributions}.png`,
# `figures/<profile>/figure1.{png,pdf}`.

# %% tags=["parameters"]
profile = "tiny"  # a profile in params/ by name, or the path of a YAML file
overrides = {}  # settings merged over the profile's, by section: {"evaluation": {"images": 48}}

# %%
import dataclasses

import numpy as np
import pandas as pd
from IPython.display import display
from PIL import Image

from clipcreate_lib import artifacts, config, figures, paths, session, tables
from clipcreate_lib.ddpo import weights
from clipcreate_lib.evaluation import creativity, generation, judges, results, scoring, verdicts
from clipcreate_lib.figures import judge_plots, result_plots
from clipcreate_lib.models import loaders
from clipcreate_lib.styles import centroids, classifiers

cfg = session.start(profile, overrides)
print(config.describe(cfg, "models", "reward", "evaluation"))
settings = cfg.evaluation
clip, processor = loaders.load_clip(cfg)
aesthetic = loaders.load_aesthetic(cfg, clip)
image_reward = loaders.load_image_reward(cfg, settings.score_batch_size)
style_classifiers = {
    name: classifiers.load(*classifiers.split_model_name(name), cfg, clip) for name in config.MODEL_NAMES
}
if cfg.reward.kmeans_temperature != 1:  # also the reference code's temperature, for comparison
    reference = dataclasses.replace(cfg, reward=dataclasses.replace(cfg.reward, kmeans_temperature=1.0))
    for name in ("kmeans-full", "kmeans-med"):
        style_classifiers[f"{name} (T=1)"] = classifiers.load(*classifiers.split_model_name(name), reference, clip)
print(
    f"profile {cfg.profile}: {len(settings.models)} models x {settings.images} images, {settings.steps} DDIM "
    f"steps, guidance {settings.guidance_scale}, eta {settings.eta}"
)

# %% [markdown]
# ## Generation
#
# Each model's images go to `data/<profile>/eval/<model>/images/` with a `manifest.csv` (model, index, prompt,
# seed, file). Its provenance records the settings and a digest of the model's trained weights: a
# rerun reuses a complete set, completes a partial one, and remakes a set whose model or settings
# changed.

#
# With several `ddpo.seeds`, every other seed's run of each model that notebook 04 trained makes the
# same set too (`data/<profile>/eval_seeds/<model>-seed<k>/`): the rises below then get an interval
# over the seeds as well. `evaluation.processes` makes that many sets at once in worker processes.

# %%
trained = {name: None if name == "base" else paths.ddpo_dir(name) for name in settings.models}
manifests = generation.generate_all(cfg, {name: (name, trained[name], paths.eval_dir(name)) for name in trained})
for name, manifest in manifests.items():
    made_from = artifacts.read_made_from(paths.eval_dir(name) / generation.MANIFEST)
    print(f"{name}: {len(manifest)} images ({made_from.get('trained', {}).get('epochs', 0)} DDPO epochs)")
seed_sets = {}
for name, seed in ((n, s) for n in trained if n != "base" for s in cfg.ddpo.seeds if s != cfg.ddpo.seed):
    if (paths.ddpo_seed_dir(name, seed) / weights.TRAINED).exists():
        seed_sets[name, seed] = (name, paths.ddpo_seed_dir(name, seed), paths.eval_seed_dir(name, seed))
    else:
        print(f"{name} with seed {seed} is not trained (notebook 04 trains it with these ddpo.seeds); left out")
seed_manifests = generation.generate_all(cfg, seed_sets)
over_seeds = (
    f" Over seeds: the mean of the paired rises of a model's runs with the DDPO seeds {cfg.ddpo.seeds}, with a "
    f"95% percentile bootstrap interval over the seeds."
    if seed_manifests
    else ""
)

# %% [markdown]
# ## Held-out judges
#
# Every ambiguity below is measured in the reward's own CLIP space, so a model that learned to fool that
# one CLIP (one background for every prompt, say) would score as ambiguous. The judges were never part
# of a reward: a second CLIP (`models.judge_clip`, ViT-B/32 in the paper profile; in mini a second
# miniature CLIP trained in notebook 01 on other images with another seed; in tiny a random CLIP of
# another seed) embeds both label sets, and in its space we build the text classifier again, refit
# k-means (k = the number of styles), and train a logistic-regression probe on half of each style's
# images. The probe's accuracy on the other half says whether the judge can see styles at all.

# %%
judge_clip, judge_processor, held_out = judges.for_profile(cfg)
for dataset, accuracy in held_out.probe_accuracy.items():
    print(
        f"judge probe on {dataset}: held-out accuracy {accuracy:.3f} (chance {held_out.chance[dataset]:.3f}), "
        f"judge CLIP {loaders.model_name(cfg.models, 'judge_clip')}"
    )

# %% [markdown]
# ## Scoring
#
# Every image gets its AVA score, ImageReward, prompt alignment and style ambiguity under all six
# classifiers, then the held-out judges' ambiguity and the judge CLIP's alignment; the per-image table
# is saved beside the images as `scores.csv`.


# %%
def score_set(folder, manifest):
    """Every score of the set in ``folder``, saved as its scores.csv; returns them and the CLIP embeddings."""
    images, prompts = generation.load_images(folder, manifest), list(manifest["prompt"])
    numbers, embedded = scoring.score(
        images, prompts, clip, processor, aesthetic, image_reward, style_classifiers, settings.score_batch_size
    )
    judged = judges.score(images, prompts, judge_clip, judge_processor, held_out, settings.score_batch_size)
    numbers = pd.concat([numbers, judged], axis=1)
    artifacts.save_csv(folder / scoring.SCORES, pd.concat([manifest, numbers], axis=1))
    return numbers, embedded


scores, embeddings, scored = {}, {}, {}
for name, manifest in manifests.items():
    scores[name], embeddings[name] = score_set(paths.eval_dir(name), manifest)
    scored[name] = pd.concat([manifest, scores[name]], axis=1)
seeded = {name: [frame] for name, frame in scored.items()}  # each model's runs, for the interval over seeds
for (name, seed), manifest in seed_manifests.items():
    seeded[name].append(pd.concat([manifest, score_set(paths.eval_seed_dir(name, seed), manifest)[0]], axis=1))

# %% [markdown]
# ## Table I
#
# Mean (sample standard deviation) over each model's images, ours beside the paper's.

# %%
note = figures.profile_note(cfg.profile)
protocol = (
    f"{settings.images} images per model (prompt i mod 24, seed i), DDIM with eta {settings.eta}, "
    f"{settings.steps} steps, guidance {settings.guidance_scale}"
)
table1 = results.table1(scores)
caption = f"Table I. AVA aesthetic score and ImageReward (IR), mean (std); {protocol}. Paper: its Table I. {note}."
files = tables.write(table1, results.table1_display(table1), paths.table1_stem(), caption, "tab:table1")
print(caption, *files, sep="\n")
results.table1_display(table1)

# %% [markdown]
# ## Creativity proxies
#
# Style ambiguity is $-\mathrm{CE}$ against the uniform distribution under each classifier: higher is
# more ambiguous, at most $-\log 27 = -3.296$ for the `full` classifiers and $-\log 10 = -2.303$ for the
# `med` ones. A model trained against one classifier should score well under it; whether it also does
# under the others says how far the ambiguity transfers. When the profile's k-means temperature is
# not 1, the k-means classifiers also score at the reference code's temperature 1, columns "(T=1)".
# Diversity is the mean pairwise cosine distance of the images' CLIP embeddings; alignment the CLIP
# cosine of image and prompt. The Vendi score is the effective number of distinct images (1 when all
# are one image, n when all are orthogonal), over all images and per prompt (mean over the 24 prompts:
# where a collapse to one picture per prompt shows). Novelty is the mean CLIP cosine distance of each
# image to its nearest dataset image, and "memorised" the share of images nearer to one than
# `evaluation.memorisation_threshold`.

# %%
dataset_embeddings = centroids.load_embeddings(loaders.model_name(cfg.models, "clip"))
creative = {
    name: {
        "vendi": creativity.vendi_score(embeddings[name]),
        "vendi_per_prompt": creativity.vendi_per_prompt(embeddings[name], list(manifests[name]["prompt"])),
        **creativity.novelty(embeddings[name], dataset_embeddings, settings.memorisation_threshold),
    }
    for name in scores
}
proxy_table = results.proxies(scores, embeddings, creative)
caption = (
    f"Automated creativity proxies: style ambiguity under each classifier (mean; ceiling -log N), "
    f"diversity (mean pairwise CLIP cosine distance), Vendi score (all images; mean per prompt), novelty "
    f"(mean cosine distance to the nearest dataset image), memorised share (nearest dataset image closer "
    f"than {settings.memorisation_threshold}) and prompt alignment (CLIP cosine, mean (std)); {protocol}. {note}."
)
files = tables.write(proxy_table, results.proxies_display(proxy_table), paths.proxies_stem(), caption, "tab:proxies")
print(caption, *files, sep="\n")
results.proxies_display(proxy_table)

# %% [markdown]
# ## Did training raise the style ambiguity?
#
# Each trained model's ambiguity under its own classifier, image by image against the untrained
# `base`'s image with the same prompt and seed: the mean paired difference over the evaluation set with
# a 95% Student t interval. An interval above 0 is a rise larger than the image-to-image noise of this
# set. Notebook 04 gives the same comparison along training, on the training samples.

# %%
if "base" in scores:
    rise = results.ambiguity_rise(scored)
    if seed_manifests:
        rise = results.with_seed_interval(rise, seeded, scored["base"], lambda row: f"ambiguity_{row['model']}")
    shown = results.ambiguity_rise_display(rise)
    caption = (
        f"Style ambiguity under each model's own classifier, trained model against base on the same "
        f"images (paired; mean difference, 95% t interval); {protocol}.{over_seeds} {note}."
    )
    files = tables.write(rise, shown, paths.ambiguity_rise_stem(), caption, "tab:ambiguity_rise")
    print(caption, *files, sep="\n")
    display(shown)
else:
    print("evaluation.models has no 'base', so there is nothing to measure the rise against.")

# %% [markdown]
# ## Do the rises survive the held-out judges?
#
# The same paired comparison with base, under each model's own classifier and under the three
# held-out judges of its label set. A model whose rise is above the noise under its own classifier
# but under no judge has most likely learned to fool the reward's CLIP rather than to draw ambiguous
# styles; the caption names such models. The forest plot shows every interval; the heatmap how far
# each model's rise transfers to every classifier (its own, the other five, the judges); the violins
# the per-image distributions behind Table I's means.

# %%
if "base" in scores:
    judged_rise = verdicts.judges_table(scored)
    if seed_manifests:
        judged_rise = results.with_seed_interval(
            judged_rise, seeded, scored["base"], lambda row: verdicts.score_column(row["model"], row["judge"])
        )
    flagged = verdicts.verdicts(judged_rise)
    hacking = list(flagged.loc[flagged["likely_hacking"], "model"])
    caption = (
        f"Style ambiguity rise over base (paired, 95% t interval) under each model's own classifier and under "
        f"held-out judges no reward saw (text, k-means and a linear probe in the space of the judge CLIP "
        f"{loaders.model_name(cfg.models, 'judge_clip')}); likely reward hacking (a rise under its own "
        f"classifier only): {', '.join(hacking) or 'none'}; {protocol}.{over_seeds} {note}."
    )
    files = tables.write(judged_rise, verdicts.display(judged_rise), paths.judges_stem(), caption, "tab:judges")
    print(caption, *files, sep="\n")
    artifacts.save_figure(paths.ambiguity_rise_plot(), judge_plots.forest(judged_rise, cfg.profile), dpi=150)
    measured = [c for c in scored["base"] if c.startswith("ambiguity_")]
    transfer = pd.DataFrame(
        {
            column.removeprefix("ambiguity_"): {
                name: results.paired_rise(frame, scored["base"], column, 0.95, name)["rise"]
                for name, frame in scored.items()
                if name != "base"
            }
            for column in measured
        }
    )
    artifacts.save_figure(paths.transfer_plot(), judge_plots.transfer(transfer, cfg.profile), dpi=150)
    display(verdicts.display(judged_rise))
panels = {
    "AVA": {name: s["ava"].to_numpy() for name, s in scores.items()},
    "ImageReward": {name: s["ir"].to_numpy() for name, s in scores.items()},
    "ambiguity (own classifier)": {
        name: s[f"ambiguity_{name}"].to_numpy() for name, s in scores.items() if f"ambiguity_{name}" in s
    },
}
artifacts.save_figure(paths.score_distributions_plot(), judge_plots.distributions(panels, cfg.profile), dpi=150)
print("outputs:", paths.ambiguity_rise_plot(), paths.transfer_plot(), paths.score_distributions_plot())

# %% [markdown]
# ## Figure 1
#
# Each row is one image index of the evaluation set, so one prompt and one seed; each column one
# model. The rows are `evaluation.figure_images`.

# %%
rows = settings.figure_images
grid = {
    name: [np.asarray(Image.open(paths.eval_dir(name) / manifests[name]["file"][i])) for i in rows]
    for name in settings.models
}
labels = [f"{generation.prompt(i).strip()}\n(seed {i})" for i in rows]
fig = result_plots.figure1(grid, labels, cfg.profile)
for path in paths.figure1_files():
    artifacts.save_figure(path, fig, dpi=150)
print("outputs:", *paths.figure1_files())
