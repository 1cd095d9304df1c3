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
# # 03 · The CAN baseline: a discriminator that knows styles
#
# The paper's baseline classifier (`disc`) comes from a Creative Adversarial Network (Elgammal et
# al., 2017). A CAN is a DCGAN whose discriminator D has two heads: one says whether an image is real
# or generated, the other which style a real image belongs to. The generator G is rewarded for fooling
# the first head and for making the second one *uncertain*:
#
# * D loss = BCE(real/fake) + CE(style | real images)
# * G loss = BCE(D calls the fake real) + λ_style · BCE(softmax(style(G(z))), 1/N), λ_style = 0.1
#
# Adam (lr 2·10⁻⁴, betas 0.5 / 0.999), batch 4, 50 epochs. The extended paper builds the CAN for 64,
# 128, 256 and 512 px; the discriminator always ends in 512 × 4 × 4 = 8192 features before its heads.
# After training we keep only D: the softmax of its style head is the classifier C(x) of the
# style-ambiguity reward in notebook 04. One CAN is trained per label set (full, mediums).
#
# Three things differ from the reference code, each on purpose:
#
# * **Noise.** The reference trained G on uniform noise U[0, 1) but sampled it with N(0, 1), so its
#   samples came from inputs G had never seen; we use z ~ N(0, I) in training and sampling alike.
# * **Image range.** The reference saved G's tanh output in [-1, 1] as if it were an image; we map it
#   to [0, 1] before anything is saved or shown.
# * **Eval mode.** The reference used D as a reward in train mode, so BatchNorm batch statistics and
#   Dropout made the reward of an image random and dependent on its batch; the discriminator saved
#   here loads in eval mode, frozen, and gives an image the same logits in any batch.
#
# In the **tiny** profile the CAN is the 64 px architecture on the embedded data, for a few short
# epochs, and its generator has fewer channels (`can.generator_channels`); the discriminator is the
# paper's. Tiny numbers check the pipeline; they are not the paper's.
#
# **Needs:** notebook 01's datasets; the profile's `can` settings and `models.device`. **Writes:**
# `data/<profile>/can/{full,mediums}/` (`checkpoint.pt`, `losses.csv`, and `discriminator.pt` with
# its provenance: the `disc` classifier), `figures/<profile>/can_losses.png`,
# `figures/<profile>/can_samples.png`.

# %% tags=["parameters"]
profile = "tiny"  # a profile in params/ by name, or the path of a YAML file
overrides = {}  # settings merged over the profile's, by section: {"can": {"image_size": 256}}

# %%
import pandas as pd

from clipcreate_lib import artifacts, config, paths, session
from clipcreate_lib.data import label_sets
from clipcreate_lib.figures import training_plots
from clipcreate_lib.models import loaders
from clipcreate_lib.styles import can, can_training

cfg = session.start(profile, overrides)
ccfg = cfg.can
print(config.describe(cfg, "can", "models"))
device = loaders.resolve_device(cfg.models)
sets = label_sets.load_label_sets(cfg.profile)
print(
    f"profile {cfg.profile}: {ccfg.image_size} px, {ccfg.epochs} epochs, batch {ccfg.batch_size}, "
    f"generator channels {ccfg.generator_channels}, device {device}"
)
print({name: len(ds) for name, ds in sets.items()})

# %% [markdown]
# ## Training
#
# Each epoch ends with an atomic checkpoint (both networks, both optimisers, the random-number
# states) and a row of mean losses. A rerun continues from the checkpoint while the settings and the
# data are unchanged: an interrupted run resumes where it stopped and ends in the same state, and a
# finished run is reused as it is. A checkpoint of other settings or data is never overwritten: the
# run stops and names what differs. Its data order and noise come from one seeded generator.

# %%
runs = {}
for name, ds in sets.items():
    runs[name] = can_training.train(
        ccfg,
        ds,
        label_sets.record(name),
        paths.can_checkpoint_file(name),
        paths.can_losses_file(name),
        device=device,
        desc=f"CAN {name}",
    )
    print(f"{name}: {runs[name].resumed_from} of {ccfg.epochs} epochs came from the checkpoint")
losses = {name: run.losses for name, run in runs.items()}
artifacts.save_figure(paths.can_losses_plot(), training_plots.can_losses(losses, cfg.profile), dpi=130)
pd.concat(losses, names=["dataset"]).round(3)

# %% [markdown]
# What to read in the plot: D's style loss falling and its style accuracy rising mean the style head
# learns the labels, which is all the baseline needs, since only D is kept. The adversarial pair
# (D real/fake, G fool-D) shows who is winning the game. The generator's style term cannot go below
# BCE(1/N, 1/N) (0.158 for 27 styles, 0.325 for 10), reached when D's style prediction on a fake is
# uniform: the closer to it, the more style-ambiguous D finds the generated images.
#
# ## Samples
#
# Images from z ~ N(0, I) with a fixed seed, G in eval mode, mapped from tanh's [-1, 1] to [0, 1].

# %%
samples = {name: can.sample(run.generator, 8, seed=ccfg.seed, device=device).numpy() for name, run in runs.items()}
artifacts.save_figure(paths.can_samples_plot(), training_plots.can_samples(samples, cfg.profile), dpi=110)
print({name: (float(s.min()), float(s.max())) for name, s in samples.items()}, "(pixel range of the saved samples)")

# %% [markdown]
# ## The discriminator as the `disc` classifier
#
# Each discriminator is saved with its style names in class-index order (the order of
# `labels_{full,mediums}.json` from notebook 02) and a provenance file naming the profile and the
# dataset it was trained on, which notebook 04 checks (a rerun of notebook 01 that changes the
# dataset, other mediums say, voids it). Its accuracy on the training images, in eval mode, shows that the style head
# learned the labels (chance is 1/N).

# %%
summary = []
for name, run in runs.items():
    labels = sets[name].features["style"].names
    can.publish_discriminator(
        name, run.discriminator, labels, cfg.profile, can_training.run_key(ccfg, label_sets.record(name)), ccfg.epochs
    )
    disc, _ = can.load_published(name, cfg.profile, device=device)
    summary.append(
        {
            "dataset": name,
            "styles": len(labels),
            "chance": 1 / len(labels),
            "style accuracy (train, eval mode)": can.style_accuracy(disc, sets[name], device=device),
        }
    )
print(
    "outputs:",
    paths.can_discriminator_file("full"),
    paths.can_discriminator_file("mediums"),
    paths.can_losses_plot(),
    paths.can_samples_plot(),
)
pd.DataFrame(summary).round(3)
