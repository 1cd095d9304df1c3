"""Plots the notebooks save under figures/: one function per figure, returning the matplotlib Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator
from PIL import Image


def profile_note(profile: str) -> str:
    """Caption suffix: tiny-profile numbers are pipeline checks and mini-profile numbers a miniature
    world's, never the paper's results."""
    if profile == "paper":
        return "profile: paper"
    if profile == "mini":
        return (
            "profile: mini (small models pretrained here on embedded data: the method at miniature scale, "
            "not the paper's result)"
        )
    return f"profile: {profile} (random small models, embedded data: a pipeline check, not the paper's result)"


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


def ddpo_rewards(metrics: dict[str, pd.DataFrame], n_classes: dict[str, int], profile: str):
    """Reward terms per epoch (mean +- std over the epoch's samples), one panel per model. The
    ambiguity ceiling -log N (a classifier that cannot tell the N styles apart) is dashed; utility,
    on another scale, reads off the right axis."""
    names = list(metrics)
    cols = min(3, len(names))
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 2.8 * rows + 0.9), squeeze=False)
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    for ax, name in zip(axes.ravel(), names):
        m = metrics[name]
        for term, color in (("reward", "black"), ("ambiguity", "tab:blue")):
            ax.plot(m["epoch"], m[f"{term}_mean"], color=color, marker=".", label=f"{term} (left)")
            ax.fill_between(
                m["epoch"],
                m[f"{term}_mean"] - m[f"{term}_std"],
                m[f"{term}_mean"] + m[f"{term}_std"],
                color=color,
                alpha=0.12,
            )
        ax.axhline(
            -np.log(n_classes[name]), color="tab:blue", linestyle="--", linewidth=0.8, label="ambiguity ceiling -log N"
        )
        right = ax.twinx()
        right.plot(m["epoch"], m["utility_mean"], color="tab:orange", marker=".", label="utility (right)")
        right.tick_params(axis="y", labelcolor="tab:orange", labelsize=7)
        ax.set_title(f"{name} (N = {n_classes[name]})", fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
    handles = [h for a in (axes.ravel()[0], right) for h in a.get_legend_handles_labels()[0]]
    fig.legend(
        handles,
        [h.get_label() for h in handles],
        loc="upper center",
        ncol=4,
        fontsize=7,
        bbox_to_anchor=(0.5, 1 - 0.5 / fig.get_figheight()),
    )
    fig.suptitle(
        f"DDPO reward terms per epoch (mean ± std of the epoch's samples)\n{profile_note(profile)}", fontsize=9
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()), h_pad=1.5)
    return fig


def can_losses(losses: dict[str, pd.DataFrame], profile: str):
    """CAN losses per epoch, one panel per dataset; the style accuracy on the right-hand axis."""
    fig, axes = plt.subplots(1, len(losses), figsize=(5 * len(losses), 3.4), squeeze=False)
    for ax, (name, table) in zip(axes[0], losses.items()):
        for column, label in [
            ("d_adv", "D real/fake BCE"),
            ("d_style", "D style CE"),
            ("g_adv", "G fool-D BCE"),
            ("g_style", "G style BCE vs uniform"),
        ]:
            ax.plot(table["epoch"], table[column], marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("mean loss")
        ax.set_title(name)
        acc = ax.twinx()
        acc.plot(table["epoch"], table["style_acc"], color="black", linestyle="--", marker="x", label="style accuracy")
        acc.set_ylim(0, 1)
        acc.set_ylabel("style accuracy (training batches)")
        handles = ax.get_legend_handles_labels()[0] + acc.get_legend_handles_labels()[0]
        ax.legend(handles=handles, fontsize=7)
    fig.suptitle(f"CAN training\n{profile_note(profile)}", fontsize=9)
    fig.tight_layout()
    return fig


def can_samples(samples: dict[str, np.ndarray], profile: str):
    """Generated images (N, 3, H, W) in [0, 1], one row per dataset's generator."""
    fig, axes = plt.subplots(len(samples), 1, figsize=(12, 1.9 * len(samples)), squeeze=False, layout="constrained")
    for ax, (name, images) in zip(axes[:, 0], samples.items()):
        ax.imshow(np.concatenate(list(images.transpose(0, 2, 3, 1)), axis=1))
        ax.set_title(f"CAN generator trained on {name}", fontsize=8)
        ax.axis("off")
    fig.suptitle(f"CAN samples, z ~ N(0, I)\n{profile_note(profile)}", fontsize=9)
    return fig


def figure1(images: dict[str, list[np.ndarray]], row_labels: list[str], profile: str):
    """The paper's Figure 1: a grid with one row per (prompt, seed) and one column per model, each
    row's images made from the same prompt and seed. ``images[model][row]`` is (H, W, 3) uint8."""
    models = list(images)
    rows = len(row_labels)
    fig, axes = plt.subplots(
        rows, len(models), figsize=(1.5 * len(models) + 1.6, 1.5 * rows + 0.6), squeeze=False, layout="constrained"
    )
    for c, model in enumerate(models):
        axes[0, c].set_title(model, fontsize=8)
        for r in range(rows):
            ax = axes[r, c]
            ax.imshow(images[model][r])
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(row_labels[r], fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle(
        f"Image comparisons: each row one prompt and seed, each column one model\n{profile_note(profile)}", fontsize=9
    )
    return fig


def kit_grid(images: list[Image.Image], ids: list[str], profile: str, per_row: int = 6):
    """The study kit as raters meet it: its images in the kit's order, each under its anonymous id."""
    rows = int(np.ceil(len(images) / per_row))
    fig, axes = plt.subplots(rows, per_row, figsize=(per_row * 1.4, rows * 1.55), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for n, (ax, image, image_id) in enumerate(zip(axes.ravel(), images, ids), 1):
        ax.imshow(np.asarray(image.convert("RGB")))
        ax.set_title(f"{n}. {image_id}", fontsize=6, pad=2)
    fig.suptitle(f"The study kit, in its order; each rater sees a shuffle of it ({profile_note(profile)})", fontsize=8)
    fig.tight_layout()
    return fig


def table2(numbers: pd.DataFrame, paper: pd.DataFrame, questions: list[tuple[str, str]], title: str):
    """Table II as grouped bars: mean answer per question, one bar per model with its confidence
    interval; the paper's means as open circles on the same bars. ``questions`` = (key, header)."""
    models = list(numbers["model"])
    paper = paper.set_index("model").reindex(models)
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for m, row in enumerate(numbers.itertuples(index=False)):
        x = np.arange(len(questions)) + (m - (len(models) - 1) / 2) * width
        means = np.array([getattr(row, k) for k, _ in questions])
        low = np.array([getattr(row, f"{k}_low") for k, _ in questions])
        high = np.array([getattr(row, f"{k}_high") for k, _ in questions])
        ax.bar(x, means, width, label=row.model, yerr=np.nan_to_num([means - low, high - means]), capsize=2)
        ax.scatter(
            x,
            paper.loc[row.model, [k for k, _ in questions]],
            marker="o",
            facecolor="white",
            edgecolor="black",
            s=14,
            zorder=3,
            label="paper" if m == 0 else None,
        )
    ax.set_xticks(np.arange(len(questions)), [name for _, name in questions])
    ax.set_ylim(1, 5)
    ax.set_ylabel("mean answer (1-5)")
    ax.legend(fontsize=7, ncol=4, loc="upper left")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def kmeans_temperature(sweep: pd.DataFrame, chosen: float, profile: str):
    """Flatness of the k-means classifier (mean entropy / log k: 1 = uniform, the ambiguity ceiling)
    against its temperature, one line per label set and image population; temperature 1 (the
    reference code's) and the profile's are marked."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    styles = {"dataset": "-", "base-model samples": "--"}
    for (dataset, images), rows in sweep.groupby(["dataset", "images"], sort=False):
        color = "tab:blue" if dataset == "full" else "tab:orange"
        ax.plot(
            rows["temperature"],
            rows["normalised_entropy"],
            marker="o",
            markersize=3,
            color=color,
            linestyle=styles.get(images, ":"),
            label=f"{dataset}: {images}",
        )
    ax.axvline(
        1.0,
        color="black",
        linewidth=0.8,
        linestyle=":",
        label="reference code" + (" and this profile" if chosen == 1.0 else "") + ": T = 1",
    )
    if chosen != 1.0:
        ax.axvline(chosen, color="tab:green", linewidth=1.0, label=f"this profile: T = {chosen:g}")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("k-means temperature T (logits 1 / (T · distance))")
    ax.set_ylabel("mean entropy / log k  (1 = flat)")
    ax.legend(fontsize=7, handlelength=3.5)  # long enough to show the dashes
    ax.set_title(f"How flat is the k-means classifier?\n{profile_note(profile)}", fontsize=8)
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
