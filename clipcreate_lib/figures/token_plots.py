"""Notebook 09's figures: whether each learned token carries its style (accuracy per prompt kind and
classifier), the tokens' training losses, and the guidance-scale sweep (one panel per metric, one
line per model). Its strip across scales is ``result_plots.figure1``."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from clipcreate_lib.figures import profile_note

KINDS = {"token": "by the token", "name": "in the style's name", "bare": "bare prompt"}
METRIC_LABELS = {
    "ambiguity_own": "ambiguity (own classifier)",
    "alignment": "prompt alignment",
    "ava": "AVA",
    "ir": "ImageReward",
    "diversity": "diversity",
}


def style_tokens(table: pd.DataFrame, profile: str):
    """Per style, the share of images each classifier assigns to the style, per prompt kind (Wilson 95%)."""
    styles = list(dict.fromkeys(table["style"]))
    fig, axes = plt.subplots(1, len(styles), figsize=(3.6 * len(styles), 3.4), squeeze=False, layout="constrained")
    for ax, style in zip(axes[0], styles):
        rows = table[table["style"] == style]
        x, width = np.arange(len(rows)), 0.8 / len(KINDS)
        for j, (kind, label) in enumerate(KINDS.items()):
            acc = rows[f"accuracy_{kind}"].to_numpy()
            err = [acc - rows[f"accuracy_{kind}_low"], rows[f"accuracy_{kind}_high"] - acc]
            ax.bar(x + (j - 1) * width, acc, width, yerr=err, capsize=2, label=label)
        ax.set_xticks(x, rows["classifier"], rotation=45, ha="right", fontsize=7)
        ax.set_ylim(0, 1)
        ax.set_title(style, fontsize=9)
        ax.set_ylabel("accuracy (style predicted)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"Does the learned token carry its style?\n{profile_note(profile)}", fontsize=9)
    return fig


def losses(curves: dict[str, pd.DataFrame], profile: str):
    """Each embedding's denoising loss per step (and its running mean over 10% of the steps)."""
    fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
    for name, curve in curves.items():
        window = max(1, len(curve) // 10)
        ax.plot(curve["step"], curve["loss"].rolling(window, min_periods=1).mean(), label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("denoising loss (running mean)")
    ax.legend(fontsize=7)
    ax.set_title(f"Textual inversion\n{profile_note(profile)}", fontsize=8)
    return fig


def guidance_scale(table: pd.DataFrame, profile: str):
    """One panel per metric against the classifier-free guidance scale, one line per model."""
    fig, axes = plt.subplots(1, len(METRIC_LABELS), figsize=(3.0 * len(METRIC_LABELS), 3.2), layout="constrained")
    for ax, (metric, label) in zip(axes, METRIC_LABELS.items()):
        for model, rows in table.groupby("model", sort=False):
            ax.plot(rows["scale"], rows[metric], marker="o", ms=3, label=model)
        ax.set_xlabel("guidance scale")
        ax.ticklabel_format(axis="y", useOffset=False)  # a flat metric (a random head's) reads as flat
        ax.set_title(label, fontsize=9)
    axes[0].legend(fontsize=6)
    fig.suptitle(f"Classifier-free guidance scale sweep\n{profile_note(profile)}", fontsize=9)
    return fig
