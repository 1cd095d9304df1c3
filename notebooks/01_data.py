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
# # 01 · Data: WikiArt ("full") and the "mediums" subset
#
# The style-ambiguity reward needs a set of style classes. The paper uses two, both built from
# WikiArt (§III-C):
#
# * **full**: WikiArt as it is, 27 styles (~80k images);
# * **mediums**: the 10 styles whose BLIP captions most often contain one of the training prompts'
#   words (*painting*, *drawing*, *art*). Which 10 these are was never published, so we compute them.
#
# The reference code matched the words as substrings, so *art* also counted *artist*, *party* and
# *martial*. We match **whole words** by default and keep the substring match as an option
# (`data.match: substring`) to reproduce the reference code on purpose.
#
# In the **tiny** profile the images come from an embedded generator: the same 27 style names, each
# with its own palette, texture and stroke pattern, and each image with a caption. The selection code
# is the same; only the source differs. Tiny numbers check the pipeline; they are not the paper's.
#
# **Needs:** the profile's `data` and `models` settings; WikiArt and BLIP from the hub (paper
# profile) or nothing (tiny, mini). **Writes:** `data/<profile>/datasets/{full,mediums}` (with
# provenance), `data/<profile>/datasets/captions.csv`,
# `data/<profile>/datasets/mediums_ranking.csv`, `figures/<profile>/mediums.csv`,
# `figures/<profile>/mediums_fractions.png`, `figures/<profile>/dataset_samples.png`; in the mini
# profile also the pretrained miniature models in `data/<profile>/miniature/` and
# `figures/<profile>/miniature.png`.

# %% tags=["parameters"]
profile = "tiny"  # a profile in params/ by name, or the path of a YAML file
overrides = {}  # settings merged over the profile's, by section: {"data": {"n_mediums": 5}}

# %%
import pandas as pd
import torch

from clipcreate_lib import artifacts, config, paths, session
from clipcreate_lib.data import captioning, embedded, label_sets, mediums, wikiart
from clipcreate_lib.figures import data_plots
from clipcreate_lib.models import loaders, miniature, miniature_training

cfg = session.start(profile, overrides)
dcfg = cfg.data
print(config.describe(cfg, "data", "models", "miniature"))

# %% [markdown]
# ## The full dataset
#
# Images are stored as center-cropped squares (the CAN needs squares; CLIP crops the center anyway).
# An image that cannot be decoded is skipped and counted; labels travel with their own image, so a
# skipped row never shifts a label. The stored dataset is reused while the settings that made it are
# unchanged.

# %%
skipped = wikiart.SkipCount()
full, reused = label_sets.build_full(dcfg, cfg.profile, skipped)
if reused:
    print(f"reusing {paths.dataset_dir('full')} ({len(full)} images)")
print(
    f"full: {len(full)} images, {len(full.features['style'].names)} styles; "
    f"unreadable images skipped this run: {skipped.unreadable}, rows without a style label: {skipped.unlabelled}"
)
pd.Series(full["style"]).map(dict(enumerate(full.features["style"].names))).value_counts().sort_index().to_frame(
    "images"
)

# %%
names = full.features["style"].names
labels = pd.Series(full["style"])
first_rows = labels.groupby(labels).head(4).index  # four images of every style, decoded alone
samples: dict[str, list] = {}
for label, image in zip(labels[first_rows], full.select(first_rows)["image"]):
    samples.setdefault(names[label], []).append(image)
fig = data_plots.style_grid(samples, cfg.profile)
artifacts.save_figure(paths.figures_dir() / "dataset_samples.png", fig, dpi=110)

# %% [markdown]
# ## Captions
#
# Paper profile: BLIP (`Salesforce/blip-image-captioning-base`) captions every image, in batches,
# cached by source row so a rerun (or a resumed run) never captions an image twice. Tiny profile: the
# embedded captions. Unlike the reference code, which captioned the raw WikiArt image, BLIP sees the
# stored square centre crop at `data.image_size`: the image every later stage sees. A caption can
# differ where the crop cut off what BLIP would have named, so styles near the top-10 cut may swap.

# %%
if dcfg.source == "embedded":
    captions = embedded.embedded_captions(dcfg)
else:
    blip, blip_processor = loaders.load_blip(cfg)
    # BLIP captions the stored images: their size and the captioner's dtype are part of the key
    cache_key = artifacts.short_hash(
        [
            dcfg.dataset_id,
            dcfg.split,
            cfg.models.blip,
            dcfg.caption_max_tokens,
            dcfg.image_size,
            str(loaders.inference_dtype(cfg.models)),
        ]
    )
    captions = captioning.caption_dataset(
        full,
        lambda images: captioning.caption_images(images, blip, blip_processor, dcfg.caption_max_tokens),
        paths.caption_cache_file(cache_key),
        dcfg.caption_batch_size,
    )
caption_table = pd.DataFrame(
    {"source_index": full["source_index"], "style": [names[i] for i in full["style"]], "caption": captions}
)
artifacts.save_csv(paths.captions_file(), caption_table)
caption_table.sample(8, random_state=0)

# %% [markdown]
# ## Choosing the 10 mediums styles
#
# For every style: the fraction of its captions that contain *painting*, *drawing* or *art*. The top
# `n_mediums` styles form the mediums label set. Below, the same ranking under both match modes,
# so the effect of the reference code's substring match is visible.

# %%
ranking = mediums.medium_fractions(caption_table, dcfg.medium_words, dcfg.match)
chosen = mediums.select_mediums(ranking, dcfg.n_mediums)
other_mode = "substring" if dcfg.match == "word" else "word"
other_ranking = mediums.medium_fractions(caption_table, dcfg.medium_words, other_mode)
other = mediums.select_mediums(other_ranking, dcfg.n_mediums)
print(f"chosen ({dcfg.match} match): {chosen}")
print(
    f"with {other_mode} match instead, these would change: "
    f"out {sorted(set(chosen) - set(other))}, in {sorted(set(other) - set(chosen))}"
)
artifacts.save_csv(paths.mediums_ranking_file(), ranking)
artifacts.save_csv(paths.mediums_table(), ranking[ranking["style"].isin(chosen)].reset_index(drop=True))
fig = data_plots.mediums_bar(ranking, chosen, dcfg.match, cfg.profile, other_ranking, other_mode)
artifacts.save_figure(paths.mediums_plot(), fig, dpi=150)
ranking.head(dcfg.n_mediums + 3)

# %% [markdown]
# ## The mediums dataset
#
# The images of the chosen styles, relabelled 0..9 in the label set's order.

# %%
mediums_set = mediums.mediums_subset(full, chosen)
label_sets.save_mediums(mediums_set, chosen, dcfg.match)
print(f"mediums: {len(mediums_set)} images, styles {mediums_set.features['style'].names}")
print(f"outputs: {paths.dataset_dir('full')}, {paths.dataset_dir('mediums')}, {paths.mediums_table()}")

# %% [markdown]
# ## The miniature world (mini profile)
#
# With random models (tiny profile) no reward means anything. The mini profile first pretrains, on
# the embedded styles, a tiny CLIP (contrastive, identical texts in a batch counted as matches) and a
# tiny text-conditioned diffusion model on that CLIP's text tower (v-prediction in pixel space,
# caption dropout for classifier-free guidance, EMA weights), both real Hugging Face classes saved
# with `save_pretrained` to `data/<profile>/miniature/`, and a second CLIP trained the same way on other
# embedded images with another seed: notebook 05's held-out judge, which no reward ever uses. Every
# later notebook loads them with the same `from_pretrained` loaders as the paper's models. Built once
# and reused while the settings are unchanged (`clipcreate_lib.models.miniature`; its targets are
# measured by `benchmarks/mini_quality.py`).

# %%
if cfg.models.source != "mini":
    print(f"profile {cfg.profile} uses no miniature models")
else:
    built = miniature.build(cfg.miniature, paths.miniature_dir())
    clip, processor = loaders.load_clip(cfg)
    _, held_out = miniature_training.embedded_split(cfg.miniature)
    n_styles = len(wikiart.WIKIART_STYLES)
    print(
        f"CLIP on {len(held_out.labels)} held-out images: zero-shot style accuracy "
        f"{miniature.zero_shot_accuracy(held_out, clip, processor):.3f} over {n_styles} styles "
        f"(chance {1 / n_styles:.3f}), k-means ARI {miniature.kmeans_ari(held_out, clip, processor, 0):.3f}"
    )
    judge = miniature.build_judge(cfg.miniature, paths.miniature_dir())
    judge_clip, judge_processor = loaders.load_judge_clip(cfg)
    print(
        f"judge CLIP (notebook 05's held-out judge, trained on other images with another seed): zero-shot "
        f"style accuracy {miniature.zero_shot_accuracy(held_out, judge_clip, judge_processor):.3f} on the same images"
    )
    pipe = loaders.load_stable_diffusion(cfg)
    prompts = miniature.style_prompts()
    samples, recognised = miniature.style_samples(
        pipe, prompts, clip, processor, cfg.miniature.check_steps, cfg.miniature.check_guidance_scale, seed=0
    )
    print(
        f"diffusion: CLIP recognises the prompted style in "
        f"{(recognised == torch.arange(len(prompts))).float().mean():.2f} of {len(prompts)} samples, one per style"
    )
    losses = {name: pd.read_csv(folder / miniature.METRICS) for name, folder in vars(built).items()}
    fig = data_plots.miniature(losses, samples, prompts, [prompts[i] for i in recognised], cfg.profile)
    artifacts.save_figure(paths.miniature_plot(), fig, dpi=150)
    print("outputs:", built.clip, built.stable_diffusion, judge, paths.miniature_plot())
