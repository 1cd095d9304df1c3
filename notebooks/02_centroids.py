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

# %% tags=["parameters"]
profile = "tiny"  # which params/<profile>.yaml to use; run_all.sh also injects its sections below
models = None  # a dict merged over the file's `models` section (None: the file's as is)
centroids = None  # a dict merged over the file's `centroids` section

# %%
import numpy as np
import pandas as pd
import torch
from sklearn.metrics import adjusted_rand_score, pairwise_distances_argmin

import clipcreate_lib.data as artdata
from clipcreate_lib import artifacts, centroids as km, clip_space, config, figures, models as model_lib, paths

cfg = config.load(profile, models=models, centroids=centroids)
ccfg = cfg.centroids
sets = artdata.load_label_sets(cfg.profile)
clip, processor = model_lib.load_clip(cfg)
print({name: len(ds) for name, ds in sets.items()}, "| CLIP embedding width:", clip.config.projection_dim)

# %% [markdown]
# ## Image embeddings
#
# The full dataset is embedded once (cached while the dataset and the CLIP model are unchanged);
# mediums is a subset of full, so its embeddings are the matching rows.

# %%
full_emb_file = paths.embeddings_file("full")
made_from = {"dataset": artifacts.read_made_from(paths.dataset_dir("full")), "rows": len(sets["full"]),
             "clip": model_lib.model_name(cfg.models, "clip")}
if artifacts.is_current(full_emb_file, made_from):
    full_emb = np.load(full_emb_file)
    print(f"reusing {full_emb_file}")
else:
    full_emb = clip_space.embed_dataset(sets["full"], clip, processor, ccfg.batch_size)
    artifacts.save_npy(full_emb_file, full_emb)
    artifacts.mark_made_from(full_emb_file, made_from)
row_of = {idx: i for i, idx in enumerate(sets["full"]["source_index"])}
embeddings = {"full": full_emb, "mediums": full_emb[[row_of[i] for i in sets["mediums"]["source_index"]]]}
artifacts.save_npy(paths.embeddings_file("mediums"), embeddings["mediums"])
print({name: e.shape for name, e in embeddings.items()}, "| norms:", np.linalg.norm(full_emb, axis=1)[:3])

# %% [markdown]
# ## The elbow plot and the centroids
#
# One k-means run per k of `k_range` (plus the chosen k): its inertia goes into the elbow plot, and
# the chosen k's centroids are saved for the classifier.

# %%
chosen_k = {"full": ccfg.k_full, "mediums": ccfg.k_mediums}
curves, summary = [], []
for name, emb in embeddings.items():
    curve, fitted = km.sweep(emb, ccfg.k_range + [chosen_k[name]], ccfg.seed, ccfg.n_init, what=name)
    curves.append(curve)
    centres = fitted[chosen_k[name]]
    artifacts.save_npy(paths.centroids_file(name), centres)
    artifacts.mark_made_from(paths.centroids_file(name), {**made_from, "subset": name, "k": len(centres),
                                                          "seed": ccfg.seed, "n_init": ccfg.n_init,
                                                          "data": artifacts.read_made_from(paths.dataset_dir(name))})
    nearest = pairwise_distances_argmin(emb, centres)
    summary.append({"dataset": name, "k": len(centres), "width": centres.shape[1],
                    "ARI(clusters, styles)": adjusted_rand_score(sets[name]["style"], nearest)})
inertia = pd.concat(curves, ignore_index=True)
artifacts.save_csv(paths.elbow_table(), inertia)
artifacts.save_figure(paths.elbow_plot(), figures.elbow(inertia, chosen_k, cfg.profile), dpi=150)
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
    with torch.inference_mode():
        text = clip_space.text_embeddings([artdata.style_text(s) for s in labels], clip, processor).cpu().numpy()
    artifacts.save_npy(paths.text_embeddings_file(name), text)
    artifacts.mark_made_from(paths.text_embeddings_file(name), {"clip": made_from["clip"], "labels": labels,
                                                                "data": artifacts.read_made_from(paths.dataset_dir(name))})
    artifacts.save_json(paths.labels_file(name), labels)
    print(f"{name}: {len(labels)} labels, text embeddings {text.shape}")
print("outputs:", paths.centroids_file("full"), paths.centroids_file("mediums"), paths.elbow_plot())
