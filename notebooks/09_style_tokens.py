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
# # 09 · Style tokens: textual inversion of a style, a re-learned word, and the guidance scale
#
# Seed 003 teaches Stable Diffusion an illustrator's style as a new pseudo-word by **textual
# inversion** (Gal et al. 2022): the UNet, the VAE and the text encoder stay frozen and only the new
# token's rows of the token-embedding matrix are learned, by the model's own denoising loss on
# captioned images ("a painting of [filewords] by [name]"). Three things here map onto our question:
#
# 1. A learned style token is the opposite pole of style ambiguity: it should make the classifiers
#    *sure*. For each style, images "a painting of X by ⟨token⟩" against "a painting of X in the style
#    of ⟨name⟩" and the bare "a painting of X" (same subjects, same seeds) are classified by all six
#    classifiers: how often each names the style (accuracy, Wilson interval), how much probability it
#    gives it (confidence, t interval), and the token's paired gain over the name prompt.
# 2. Re-learning an *existing* word on a curated set (the seed's bias remedy): the word "painting",
#    one of the paper's training prompts, is re-learned on a style-balanced sample of the data; the
#    style-bias audit of notebook 08 (entropy, G-test) and the ambiguity under the six classifiers of
#    the "painting …" images before and after, next to the DDPO models' own images of those prompts.
# 3. The classifier-free **guidance scale** every user turns (seed 003 swept 0–30 and saw little change
#    past about 10): the untrained and the six DDPO models on the first evaluation images at every scale,
#    their ambiguity under their own classifier, alignment, AVA, ImageReward and diversity.
#
# A token's rows are saved as diffusers' `learned_embeds.safetensors` and read back through
# `StableDiffusionPipeline.load_textual_inversion`, which must draw the same images. That loader refuses
# a token the vocabulary already has, so the re-learned word's row is written in place instead.
#
# In the tiny profile the models are random and everything is a pipeline check; in the mini profile the
# numbers are a miniature world's, not the paper's. Captions say which.
#
# **Needs:** notebook 01's datasets and captions, 02's centroids and text labels, 03's discriminators,
# 04's DDPO weights, 05's scores. **Writes:** `data/<profile>/tokens/<token>/` (`learned_embeds.safetensors`
# with its provenance, `checkpoint.pt`, `losses.csv`), `data/<profile>/tokens/sweep/<model>/scale<s>/`,
# `figures/<profile>/style_tokens.{csv,md,tex,png}`, `style_tokens_losses.png`,
# `relearned_word.{csv,md,tex}`, rows of `style_bias.*`, `guidance_scale.{csv,md,tex,png}`,
# `guidance_scale_strip.png`.

# %% tags=["parameters"]
profile = "tiny"  # a profile in params/ by name, or the path of a YAML file
overrides = {}  # settings merged over the profile's, by section: {"tokens": {"steps": 500}}

# %%
import numpy as np
import pandas as pd
from IPython.display import display

from clipcreate_lib import artifacts, config, figures, paths, session, tables
from clipcreate_lib.data import label_sets
from clipcreate_lib.evaluation import generation, scoring
from clipcreate_lib.figures import result_plots, token_plots
from clipcreate_lib.guidance.runs import protocol_scorer
from clipcreate_lib.models import loaders
from clipcreate_lib.paths import tokens_files
from clipcreate_lib.search import audit
from clipcreate_lib.styles import classifiers
from clipcreate_lib.tokens import examples, inversion, probe, relearn, sweep, training

cfg = session.start(profile, overrides)
s, protocol = cfg.tokens, cfg.evaluation
print(config.describe(cfg, "tokens"))
clip, processor = loaders.load_clip(cfg)
found = {name: classifiers.load(*classifiers.split_model_name(name), cfg, clip) for name in config.MODEL_NAMES}
sets = label_sets.load_label_sets(cfg.profile)
full, full_captions = sets["full"], examples.captions(sets["full"])
note = figures.profile_note(cfg.profile)
data_record = {"profile": cfg.profile, "data": label_sets.record("full")}
data_record["stable_diffusion"] = loaders.model_name(cfg.models, "stable_diffusion")

# %% [markdown]
# ## Learning one token per style
#
# Each style's token starts from the row of `tokens.initializer` and learns from that style's images of
# the full label set, each captioned by `tokens.template` with its notebook-01 caption as [filewords].
# Only the token's rows train: afterwards every other row of the embedding matrix must be bitwise what
# it was (checked below). A token made alike before is reused; an interrupted one resumes from its checkpoint.

# %%
curves = {}
for style in s.styles:
    pipe = loaders.load_stable_diffusion(cfg)
    before = pipe.text_encoder.get_input_embeddings().weight.detach().clone()
    token = examples.token_of(style)
    ids = inversion.add_token(pipe, token, s.vectors, s.initializer)
    rows = examples.style_rows(full, style, s.images_per_style)
    latents = examples.latents_of(pipe, full, rows, protocol.score_batch_size)
    texts = [s.template.format(filewords=full_captions[i], token=token) for i in rows]
    record = {**data_record, "style": style, "rows": artifacts.short_hash(rows), "template": s.template}
    record.update(vectors=s.vectors, initializer=s.initializer)
    folder = tokens_files.token_dir(token.strip("<>"))
    learned, reused = training.learn(pipe, token, ids, latents, texts, s, folder, record)
    after = pipe.text_encoder.get_input_embeddings().weight
    untouched = bool((after[: len(before)] == before).all())
    print(
        f"{style}: {len(rows)} images, {'reused' if reused else 'trained'}; other rows bitwise unchanged: {untouched}"
    )
    curves[token] = training.loss_curve(folder)
last_style_pipe, last_token = pipe, token

# %% [markdown]
# ## Read back through `load_textual_inversion`
#
# A fresh pipeline loads every saved token with diffusers' own loader; the last style's probe images
# must come out as the pipeline that learned the token drew them.

# %%
tokens_pipe = loaders.load_stable_diffusion(cfg)
tokens_pipe.load_textual_inversion([str(tokens_files.token_dir(examples.token_of(st).strip("<>"))) for st in s.styles])
check = [examples.probe_prompt("token", s.styles[-1], i) for i in range(min(2, s.probe_images))]
drawn = examples.sample(last_style_pipe, check, protocol, "learning pipeline", progress=False)
reloaded = examples.sample(tokens_pipe, check, protocol, "reloaded pipeline", progress=False)
print(f"reloaded token {last_token}: largest pixel difference {(drawn - reloaded).abs().max().item() * 255:.0f} / 255")

# %% [markdown]
# ## Does the token carry the style?
#
# Per style and classifier (a label set without the style gives no row): accuracy [Wilson interval] and
# mean confidence ± t half-width with the token, with the style's name and bare; the last column is the
# token's confidence minus the name prompt's, paired on the same subject and seed.

# %%
probe_rows, strip = [], {}
for style in s.styles:
    by_kind = {}
    for kind in examples.KINDS:
        prompts = [examples.probe_prompt(kind, style, i) for i in range(s.probe_images)]
        images = examples.sample(tokens_pipe, prompts, protocol, f"{style} {kind}")
        by_kind[kind] = probe.logits(images, found, clip, processor, protocol.score_batch_size)
        strip.setdefault(style, []).append((images[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    probe_rows += probe.rows(style, by_kind, probe.targets(found, sets, style), s.confidence)
token_table = pd.DataFrame(probe_rows)
caption = (
    f"Style tokens: per style and classifier, the share of {s.probe_images} images assigned to the style "
    f"(Wilson {s.confidence:.0%} interval) and its mean probability (± t half-width) with the learned token, the "
    f"style's name and the bare prompt, and the token's paired gain over the name. {s.vectors} vector(s) per "
    f"token, {s.steps} steps; DDIM {protocol.steps} steps, guidance {protocol.guidance_scale}. {note}."
)
files = tables.write(
    token_table, probe.display(token_table), tokens_files.style_tokens_stem(), caption, "tab:style_tokens"
)
files.append(
    artifacts.save_figure(tokens_files.style_tokens_plot(), token_plots.style_tokens(token_table, cfg.profile))
)
print(caption, *files, sep="\n")
display(probe.display(token_table))

# %%
fig = result_plots.figure1(
    {kind: [strip[st][j] for st in s.styles] for j, kind in enumerate(examples.KINDS)},
    [f"{st}\n(seed 0)" for st in s.styles],
    cfg.profile,
)
fig.suptitle(
    f"Probe image 0 ({examples.SUBJECTS[0]}, seed 0) of each style: by the token, by name, bare\n{note}", fontsize=9
)

# %% [markdown]
# ## Re-learning "painting" on a style-balanced sample
#
# The word's one row is re-learned (the same loss, optimiser and steps) on `tokens.relearn_images_per_style`
# images of every style, captioned by `tokens.relearn_template`. Then the evaluation's eight "painting …"
# prompts (image i: prompt i mod 8, seed i) are drawn with the word as the model has it and as re-learned,
# audited for style bias (rows of `style_bias.*`, the re-learned set against the untouched one) and scored
# for ambiguity, next to notebook 05's images of the same prompts by the untrained and DDPO models.

# %%
word = s.relearn_word
word_pipe = loaders.load_stable_diffusion(cfg)
word_ids = [inversion.word_id(word_pipe, word)]
balanced = examples.balanced_rows(full, s.relearn_images_per_style, s.seed)
latents = examples.latents_of(word_pipe, full, balanced, protocol.score_batch_size)
texts = [s.relearn_template.format(word=word, filewords=full_captions[i]) for i in balanced]
record = {**data_record, "rows": artifacts.short_hash(balanced), "template": s.relearn_template}
word_folder = tokens_files.token_dir(f"word-{word}")
_, reused = training.learn(word_pipe, word, word_ids, latents, texts, s, word_folder, record)
curves[f"{word} (re-learned)"] = training.loss_curve(word_folder)
print(f"'{word}' re-learned on {len(balanced)} images ({'reused' if reused else 'trained'})")
print(
    "outputs:", artifacts.save_figure(tokens_files.style_tokens_losses_plot(), token_plots.losses(curves, cfg.profile))
)

prompts = [examples.audit_prompt(word, i) for i in range(s.audit_images)]
images_before = examples.sample(loaders.load_stable_diffusion(cfg), prompts, protocol, f"{word} as trained")
images_after = examples.sample(word_pipe, prompts, protocol, f"{word} re-learned")
auditor = audit.Auditor.load(cfg, clip, processor)
before_set = auditor.audit(f"tokens: {word} (as trained)", images_before)
after_set = auditor.audit(f"tokens: {word} (re-learned)", images_after, baseline=before_set)
print("outputs:", *audit.record([before_set, after_set], "09_style_tokens", cfg.profile), sep="\n")
bias = audit.load_rows()
bias = bias[bias["source"] == "09_style_tokens"]
display(audit.display(bias))
print(bias.groupby("image_set", sort=False)[["entropy", "max_entropy"]].mean().round(3))

# %%
batch = protocol.score_batch_size
before_amb = relearn.ambiguity(probe.logits(images_before, found, clip, processor, batch))
after_amb = relearn.ambiguity(probe.logits(images_after, found, clip, processor, batch))
models = [m for m in protocol.models if (paths.eval_dir(m) / scoring.SCORES).exists()]
word_table = relearn.table(before_amb, after_amb, models, word, s.confidence)
caption = (
    f"Ambiguity -CE(C(x), U) of the '{word} ...' images (mean ± t half-width; in brackets the re-learned word's "
    f"paired change) with the word as trained and re-learned on a style-balanced sample of {len(balanced)} images, "
    f"and notebook 05's images of the same prompts per model. {note}."
)
files = tables.write(
    word_table, relearn.display(word_table), tokens_files.relearned_word_stem(), caption, "tab:relearned"
)
print(caption, *files, sep="\n")
display(relearn.display(word_table))

# %% [markdown]
# ## The guidance-scale sweep
#
# The first `tokens.sweep_images` evaluation images of every model in `tokens.sweep_models` at every scale
# of `tokens.sweep_scales` (made by notebook 05's generation code, so a rerun reuses them), scored by its
# scoring code. The paper evaluates at 7.5 and trains at 5.

# %%
scorer = protocol_scorer(cfg, clip, processor, found)
sweep_table, folders = sweep.run(cfg, scorer)
caption = (
    f"Guidance-scale sweep on the first {s.sweep_images} evaluation images (prompt i mod 24, seed i): ambiguity under "
    f"each model's own classifier (base: mean of the six), prompt alignment, AVA, ImageReward, diversity. "
    f"DDIM {protocol.steps} steps, eta {protocol.eta}. {note}."
)
files = tables.write(
    sweep_table, sweep.display(sweep_table), tokens_files.guidance_scale_stem(), caption, "tab:guidance_scale"
)
files.append(
    artifacts.save_figure(tokens_files.guidance_scale_plot(), token_plots.guidance_scale(sweep_table, cfg.profile))
)
print(caption, *files, sep="\n")
display(sweep.display(sweep_table))

# %%
shown = s.strip_image
manifest_row = pd.DataFrame({"file": [f"images/{shown:05d}.png"]})
grid = {
    f"scale {scale:g}": [
        (generation.load_images(folders[m, scale], manifest_row)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        for m in s.sweep_models
    ]
    for scale in s.sweep_scales
}
fig = result_plots.figure1(grid, list(s.sweep_models), cfg.profile)
fig.suptitle(
    f"Image {shown} ({generation.prompt(shown).strip()}, seed {shown}) of each model across the scales\n{note}",
    fontsize=9,
)
print("outputs:", artifacts.save_figure(tokens_files.guidance_scale_strip(), fig, dpi=130))
