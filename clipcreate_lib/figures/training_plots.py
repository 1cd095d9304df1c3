"""The training figures: the CAN's losses and samples (notebook 03), DDPO's reward curves and the k-means
classifier's flatness against its temperature (notebook 04)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from clipcreate_lib.figures import profile_note


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
        right = _reward_panel(ax, metrics[name], name, n_classes[name])
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


def _reward_panel(ax, m: pd.DataFrame, name: str, n_classes: int):
    """One model's panel of ``ddpo_rewards``; returns its right-hand (utility) axis."""
    for term, color in (("reward", "black"), ("ambiguity", "tab:blue")):
        mean, std = m[f"{term}_mean"], m[f"{term}_std"]
        ax.plot(m["epoch"], mean, color=color, marker=".", label=f"{term} (left)")
        ax.fill_between(m["epoch"], mean - std, mean + std, color=color, alpha=0.12)
    ax.axhline(-np.log(n_classes), color="tab:blue", linestyle="--", linewidth=0.8, label="ambiguity ceiling -log N")
    right = ax.twinx()
    right.plot(m["epoch"], m["utility_mean"], color="tab:orange", marker=".", label="utility (right)")
    right.tick_params(axis="y", labelcolor="tab:orange", labelsize=7)
    ax.set_title(f"{name} (N = {n_classes})", fontsize=9)
    ax.set_xlabel("epoch", fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(labelsize=7)
    return right


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


def ddpo_samples(samples: dict[str, dict[int, np.ndarray]], profile: str):
    """Training samples along each run: one row per model, one column per kept epoch, each cell the
    epoch's first images side by side (``samples[model][epoch]``: uint8 (N, H, W, 3)). A collapse to
    one picture shows as the cells of a row turning alike."""
    epochs = sorted({e for kept in samples.values() for e in kept})
    fig, axes = plt.subplots(
        len(samples), len(epochs), figsize=(1.8 * len(epochs) + 1.2, 0.75 * len(samples) + 0.9), squeeze=False
    )
    for r, (model, kept) in enumerate(samples.items()):
        for c, epoch in enumerate(epochs):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if epoch in kept:
                ax.imshow(np.concatenate(list(np.asarray(kept[epoch])), axis=1))
            if r == 0:
                ax.set_title(f"epoch {epoch}", fontsize=7)
            if c == 0:
                ax.set_ylabel(model, fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle(f"DDPO training samples (the first of each kept epoch)\n{profile_note(profile)}", fontsize=8)
    fig.tight_layout()
    return fig
