"""The data's figures: the mediums selection, dataset samples, the k-means elbow (notebooks 01, 02), and the
miniature models' pretraining (notebook 01, mini profile)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image

from clipcreate_lib.figures import profile_note


def mediums_bar(
    fractions: pd.DataFrame,
    chosen: list[str],
    match: str,
    profile: str,
    other: pd.DataFrame | None = None,
    other_match: str = "",
):
    """Medium-word fraction per style, the chosen styles highlighted; ``other`` (the other match
    mode's fractions) drawn as markers, so the reference code's substring effect is visible."""
    fig, ax = plt.subplots(figsize=(9, 3.8))
    x = np.arange(len(fractions))
    colors = ["tab:orange" if s in chosen else "tab:gray" for s in fractions["style"]]
    ax.bar(x, fractions["fraction"], color=colors, label=f"{match} match")
    if other is not None:
        other_by_style = other.set_index("style")["fraction"]
        ax.scatter(
            x,
            other_by_style[fractions["style"]].to_numpy(),
            marker="_",
            s=120,
            color="black",
            label=f"{other_match} match",
            zorder=3,
        )
        ax.legend(fontsize=8)
    ax.set_xticks(
        x,
        [s.replace("_", " ") for s in fractions["style"]],
        rotation=60,
        ha="right",
        rotation_mode="anchor",
        fontsize=7,
    )
    ax.set_ylabel("captions with painting / drawing / art", fontsize=8)
    ax.set_title(
        f"Mediums selection ({match} match; orange = the {len(chosen)} chosen)\n{profile_note(profile)}", fontsize=9
    )
    return fig


def style_grid(images_by_style: dict[str, list[Image.Image]], profile: str, per_row: int = 4):
    """A few images of every style: rows of styles, side by side."""
    styles = list(images_by_style)
    cols = 3
    rows = int(np.ceil(len(styles) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 2.6, rows * 0.85), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, style in zip(axes.ravel(), styles):
        strip = np.concatenate([np.asarray(im.convert("RGB")) for im in images_by_style[style][:per_row]], axis=1)
        ax.imshow(strip)
        ax.set_title(style.replace("_", " "), fontsize=6, pad=2)
    fig.suptitle(f"Dataset samples ({profile_note(profile)})", fontsize=8)
    return fig


def elbow(inertia: pd.DataFrame, chosen_k: dict[str, int], profile: str):
    """k-means inertia against k, one panel per dataset, the chosen k marked."""
    names = list(dict.fromkeys(inertia["dataset"]))
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        rows = inertia[inertia["dataset"] == name]
        ax.plot(rows["k"], rows["inertia"], marker="o")
        ax.axvline(chosen_k[name], color="tab:red", linestyle="--", label=f"chosen k = {chosen_k[name]}")
        ax.set_xlabel("k")
        ax.set_ylabel("inertia (within-cluster sum of squares)")
        ax.set_title(name)
        ax.legend()
    fig.suptitle(f"k-means elbow in CLIP image space\n{profile_note(profile)}", fontsize=9)
    fig.tight_layout()
    return fig


def miniature(losses: dict[str, pd.DataFrame], samples, prompts: list[str], recognised: list[str], profile: str):
    """Left: the pretraining losses per step (one panel per model). Right: one sample per style
    prompt, titled with the prompt and, below, the style the miniature CLIP sees in it (red if wrong)."""
    cols = 9
    rows = int(np.ceil(len(prompts) / cols))
    fig = plt.figure(figsize=(14, 1.5 * rows + 0.6))
    grid = fig.add_gridspec(rows, cols + 3, width_ratios=[3, 0.3, 0.3] + [1] * cols)
    for r, (name, table) in enumerate(losses.items()):
        ax = fig.add_subplot(grid[r * rows // len(losses) : (r + 1) * rows // len(losses), 0])
        ax.plot(table["step"], table["loss"], linewidth=0.7)
        ax.set_title(f"{name} loss", fontsize=8)
        ax.tick_params(labelsize=6)
    for i, (image, prompt, seen) in enumerate(zip(samples, prompts, recognised)):
        ax = fig.add_subplot(grid[i // cols, 3 + i % cols])
        ax.imshow(image.permute(1, 2, 0).clamp(0, 1).cpu().numpy())
        ax.set_title(prompt, fontsize=5.5, pad=1)
        ax.set_xlabel(seen, fontsize=5.5, labelpad=1, color="black" if seen == prompt else "tab:red")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"Miniature pretraining: losses, and one sample per style prompt (below: the style CLIP sees)\n"
        f"{profile_note(profile)}",
        fontsize=8,
    )
    return fig
