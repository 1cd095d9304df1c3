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
# # 02 · Centroids: k-means in CLIP image space, and the text labels
#
# The paper's two label-free classifiers (§III-D2, §III-D3) both place class "centres" in CLIP space:
#
# * **k-means**: cluster the CLIP image embeddings E(x) of a dataset into k centres c_1..c_k; an image
#   is classified by softmax(1/‖E(x) − c_j‖). No labels are used.
# * **text**: the centres are the CLIP text embeddings of the style names.
#
# E is CLIP ViT-L/14 (768-d) in the paper profile, L2-normalised. Every image goes through the
# **same** preprocessing function the reward will use (`clip_space.clip_pixel_values`): the reference
# code built its centroids through a processor that skipped the 1/255 rescaling, so its centroids and
# its rewards lived in different places of CLIP space.
#
# k defaults to the number of styles (27 full, 10 mediums), so all three classifiers of a dataset
# spread their probability over the same number of classes; the elbow plot shows what other k would do.
#
# **Needs:** notebook 01's datasets; the profile's CLIP (`models.clip`). **Writes:**
# `data/<profile>/embeddings/{full,mediums}.npy`, `data/<profile>/centroids/{full,mediums}.npy`,
# `data/<profile>/centroids/text_{full,mediums}.npy`,
# `data/<profile>/centroids/labels_{full,mediums}.json` (each with its provenance),
# `data/<profile>/centroids/kmeans_inertia.csv` and `figures/<profile>/kmeans_elbow.png`.

# %% tags=["parameters"]
profile = "tiny"  # a profile in params/ by name, or the path of a YAML file
overrides = {}  # settings merged over the profile's, by section: {"centroids": {"k_full": 20}}

# %%
import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, pairwise_distances_argmin

from clipcreate_lib import artifacts, config, paths, session
from clipcreate_lib.data import label_sets
from clipcreate_lib.figures import data_plots
from clipcreate_lib.models import loaders
from clipcreate_lib.styles import centroids, text_labels

cfg = session.start(profile, overrides)
ccfg = cfg.centroids
print(config.describe(cfg, "centroids", "models"))
sets = label_sets.load_label_sets(cfg.profile)
clip, processor = loaders.load_clip(cfg)
clip_name = loaders.model_name(cfg.models, "clip")
print({name: len(ds) for name, ds in sets.items()}, "| CLIP embedding width:", clip.config.projection_dim)

# %% [markdown]
# ## Image embeddings
#
# The full dataset is embedded once (cached while the dataset and the CLIP model are unchanged);
# mediums is a subset of full, so its embeddings are the matching rows.

# %%
embeddings, reused = centroids.embed_label_sets(sets, clip, processor, ccfg.batch_size, clip_name)
if reused:
    print(f"reusing {paths.embeddings_file('full')}")
print({name: e.shape for name, e in embeddings.items()}, "| norms:", np.linalg.norm(embeddings["full"], axis=1)[:3])

# %% [markdown]
# ## The elbow plot and the centroids
#
# One k-means run per k of `k_range` (plus the chosen k): its inertia goes into the elbow plot, and
# the chosen k's centroids are saved for the classifier.

# %%
chosen_k = {"full": ccfg.k_full, "mediums": ccfg.k_mediums}
curves, summary = [], []
for name, emb in embeddings.items():
    curve, fitted = centroids.sweep(emb, ccfg.k_range + [chosen_k[name]], ccfg.seed, ccfg.n_init, what=name)
    curves.append(curve)
    centres = fitted[chosen_k[name]]
    centroids.save(name, centres, centroids.embeddings_made_from(sets["full"], clip_name), ccfg.seed, ccfg.n_init)
    nearest = pairwise_distances_argmin(emb, centres)
    summary.append(
        {
            "dataset": name,
            "k": len(centres),
            "width": centres.shape[1],
            "ARI(clusters, styles)": adjusted_rand_score(sets[name]["style"], nearest),
        }
    )
inertia = pd.concat(curves, ignore_index=True)
artifacts.save_csv(paths.elbow_table(), inertia)
artifacts.save_figure(paths.elbow_plot(), data_plots.elbow(inertia, chosen_k, cfg.profile), dpi=150)
pd.DataFrame(summary)

# %% [markdown]
# The adjusted Rand index says how far the unsupervised clusters agree with the style labels
# (0 = chance, 1 = the same partition). In the tiny profile CLIP is random, so the number only says
# how separable the embedded styles' palettes and textures are to random features; with the paper's
# CLIP it says how much of WikiArt's style labelling k-means finds without being told.
#
# ## Text-label embeddings
#
# The text classifier's centres: CLIP text embeddings of each style name ("Ukiyo_e" → "Ukiyo e").

# %%
for name, ds in sets.items():
    labels = ds.features["style"].names
    text = text_labels.embed(labels, clip, processor)
    text_labels.save(name, labels, text, clip_name)
    print(f"{name}: {len(labels)} labels, text embeddings {text.shape}")
print("outputs:", paths.centroids_file("full"), paths.centroids_file("mediums"), paths.elbow_plot())
