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
# # 08 · Latent search in the CAN generator, and a style-bias audit of every model
#
# CLIP-GLaSS (Galatolo et al. 2021) generates an image for a text by searching a GAN's latent space
# for the z whose image CLIP finds closest to the text, with a second objective that the GAN's
# discriminator takes the image for real:
#
# $$\max_z \cos\big(\mathrm{CLIP}_I(G(z)), \mathrm{CLIP}_T(q)\big), \qquad
#   \min_z \mathrm{BCE}\big(D(G(z)), \text{real}\big).$$
#
# A course project built on it (seed 002) asked which scenes its generators found most "beautiful"
# by classifying the images the search returned. We have every part already: a CAN generator and
# discriminator per label set (notebook 03), CLIP, and three style classifiers. Here we
#
# 1. search each CAN generator for each query, two ways: **gradient search** (Adam on z from K fixed
#    random starts, z projected back onto the shell $|z| = \sqrt{d}$ after every step, the loss
#    $-\cos + w\,\mathrm{BCE}$) and **NSGA-II** (pymoo, the seed's library: a population evolved
#    towards the Pareto front of the two objectives, every z on the shell);
# 2. plot CLIP score against realness (the front highlighted, random z for reference) and the best
#    images per query;
# 3. **audit** sets of images for style bias: the distribution of the styles each of the six
#    classifiers predicts, against the training data's style frequencies (a G-test with its
#    asymptotic and Monte Carlo p-values, the entropy, the most over- and under-represented styles),
#    for the search results, random z, and notebook 05's evaluation images of `base` and the six DDPO
#    models, each model also against `base` (toward which styles did training move it?).
#
# Choices of ours, said where they matter: CLIP-GLaSS put a hinge on StyleGAN2's logit; our realness
# objective is the CAN generator's own loss, BCE = softplus(−logit), reported as the probability
# D(G(z)) (a monotone change, the same front). The gradient search is ours (CLIP-GLaSS used only
# genetic algorithms). Images go through the project's one CLIP preprocessing path, as in the reward.
#
# In the tiny profile every model is random or barely trained: the numbers check the pipeline and
# say nothing about CLIP's taste; every caption says so.
#
# **Needs:** notebook 01's datasets, 02's centroids and text labels, 03's CAN checkpoints and
# discriminators, 05's evaluation images. **Writes:** `data/<profile>/search/{full,mediums}.pt` (with
# provenance), `figures/<profile>/latent_search.{csv,md,tex}`, `latent_search_gain.{csv,md,tex}`,
# `latent_search_pareto.png`, `latent_search_grid.png`, `style_bias.{csv,md,tex}`,
# `style_bias_shares.csv`, `style_bias.png`.

# %% tags=["parameters"]
profile = "tiny"  # a profile in params/ by name, or the path of a YAML file
overrides = {}  # settings merged over the profile's, by section: {"search": {"steps": 50}}

# %%
from IPython.display import display

from clipcreate_lib import artifacts, config, figures, session, tables
from clipcreate_lib.evaluation import generation
from clipcreate_lib.figures import search_plots
from clipcreate_lib.models import loaders
from clipcreate_lib.paths import search_files
from clipcreate_lib.search import audit, latent, results

cfg = session.start(profile, overrides)
settings = cfg.search
print(config.describe(cfg, "search"))
clip, processor = loaders.load_clip(cfg)
queries = list(settings.queries) + (list(generation.PROMPTS) if settings.paper_prompts else [])
note = figures.profile_note(cfg.profile)
print(f"profile {cfg.profile}: {len(queries)} queries in the CANs of {', '.join(settings.label_sets)}")

# %% [markdown]
# ## The search
#
# Per label set, one file holds every query's gradient search (its K starts and results) and NSGA-II
# front (and final population), and random z scored for every query. It is reused while what made
# it holds (the CAN run, the CLIP model, the queries and the search settings), and made again otherwise.

# %%
spaces, found = {}, {}
for name in settings.label_sets:
    spaces[name], published = latent.open_space(name, cfg.profile, queries, clip, processor)
    record = results.made_from(settings, queries, cfg.profile, published, loaders.model_name(cfg.models, "clip"))
    found[name], reused = results.load_or_run(spaces[name], settings, queries, name, record)
    print(f"{name}: {'reused' if reused else 'searched'} ({published['epochs']} CAN epochs)")

# %% [markdown]
# ## What the search found
#
# The CLIP cosine with the query and the realness D(G(z)) per method: mean and standard error.
# The NSGA-II row is its front, the trade-offs no other member of its final population beats on
# both objectives. Below it, how far the gradient search lies above random z on CLIP score, in
# standard errors of the difference (Welch: $\sqrt{s_g^2/K + s_r^2/N}$).

# %%
summary = results.summary(found)
shown = summary.assign(
    clip=[tables.mean_std(m, s, 3) for m, s in zip(summary["clip_mean"], summary["clip_se"])],
    realness=[tables.mean_std(m, s, 3) for m, s in zip(summary["real_mean"], summary["real_se"])],
)[["label_set", "query", "method", "n", "clip", "realness"]]
caption = f"Latent search: CLIP cosine and realness D(G(z)), mean (standard error), per method. {note}."
files = tables.write(summary, shown, search_files.latent_search_stem(), caption, "tab:latent_search")
print(caption, *files, sep="\n")
display(shown)
gain = results.gain_over_random(found)
shown = gain.assign(gain=gain["gain"].map("{:.4f}".format), se=gain["se"].map("{:.4f}".format)).round(1)
caption = f"Gradient search over random z: difference of mean CLIP cosine, its standard error, their ratio. {note}."
files = tables.write(gain, shown, search_files.latent_search_gain_stem(), caption, "tab:latent_search_gain")
print(caption, *files, sep="\n")
shown

# %%
fig = search_plots.pareto(found, cfg.profile)
print("outputs:", artifacts.save_figure(search_files.latent_search_pareto_plot(), fig, dpi=130))

# %% [markdown]
# ## The best images per query
#
# The gradient search's results with the highest CLIP cosine, per label set and query.

# %%
rows = {}
for name, result in found.items():
    for q, query in enumerate(result["queries"]):
        g = result["gradient"][q]
        best = g["clip"].argsort(descending=True)[: settings.grid_images]
        images = spaces[name].render(g["z"][best], settings.batch_size).permute(0, 2, 3, 1).numpy()
        rows[f"{name}:\n{query}"] = [(im, f"{c:.3f}") for im, c in zip(images, g["clip"][best].tolist())]
fig = search_plots.grid(rows, cfg.profile)
print("outputs:", artifacts.save_figure(search_files.latent_search_grid_plot(), fig, dpi=130))

# %% [markdown]
# ## The style-bias audit
#
# Each image set is classified by all six classifiers (argmax style). Its style counts are compared
# with the reference (`search.audit_reference`: the training data's style frequencies, or uniform).
# The sets: the gradient search's results per label set and query, random z per label set (the CAN's
# own taste, before any query), and notebook 05's evaluation images of `base` and of each DDPO model,
# each model also against `base` (the drift columns: the style whose share grew most, and the
# p-value of the G-test that the two sets share one distribution).

# %%
auditor = audit.Auditor.load(cfg, clip, processor)
audited = []
for name, result in found.items():
    z = result["random"]["z"]
    audited.append(auditor.audit(f"random z ({name} CAN)", spaces[name].render(z, settings.batch_size)))
    for q, query in enumerate(result["queries"]):
        images = spaces[name].render(result["gradient"][q]["z"], settings.batch_size)
        audited.append(auditor.audit(f"search {query!r} ({name} CAN)", images))
base = auditor.audit("eval: base", audit.evaluation_images("base")) if "base" in cfg.evaluation.models else None
audited += [base] if base is not None else []
for model in [m for m in cfg.evaluation.models if m != "base"]:
    audited.append(auditor.audit(f"eval: {model}", audit.evaluation_images(model), baseline=base))
files = audit.record(audited, "08_latent_search", cfg.profile)
print("outputs:", *files, sep="\n")
bias = audit.load_rows()  # every source's rows, as the table holds them
display(audit.display(bias))

# %% [markdown]
# ## Toward which styles did each model drift?
#
# Each DDPO model's images against `base`'s, under the classifier it was trained against and under
# the other five: the style whose share grew most (its change in share), and the homogeneity test's p-value.

# %%
drift = bias[bias["baseline"] == "eval: base"]
drift.pivot_table(index="image_set", columns="classifier", values="drift_style", aggfunc="first", sort=False)

# %% [markdown]
# How concentrated each set is: its entropy over the largest possible, ln N (1 = every style predicted
# equally often, 0 = one style for every image), averaged over the six classifiers.

# %%
evenness = (bias["entropy"] / bias["max_entropy"]).groupby(bias["image_set"], sort=False).mean()
evenness.round(3).to_frame("mean evenness")
