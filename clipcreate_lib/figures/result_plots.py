"""The results' figures: Figure 1 (notebook 05), the study kit and Table II as bars (notebook 06)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image

from clipcreate_lib.figures import profile_note


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


def answer_distributions(shares: pd.DataFrame, questions: list[tuple[str, str]], title: str):
    """Table II's answers as stacked bars: one panel per question, one bar per model, its segments the
    shares of answers 1 (light) to 5 (dark). ``shares``: model, question, answer, share."""
    models = list(dict.fromkeys(shares["model"]))
    fig, axes = plt.subplots(1, len(questions), figsize=(2.3 * len(questions) + 1, 0.3 * len(models) + 1.6))
    colours = plt.get_cmap("viridis_r")(np.linspace(0.1, 0.9, 5))
    for ax, (key, name) in zip(np.atleast_1d(axes), questions):
        cell = shares[shares["question"] == key].pivot(index="model", columns="answer", values="share")
        cell = cell.reindex(index=models, columns=range(1, 6)).fillna(0)
        left = np.zeros(len(models))
        for answer, colour in zip(range(1, 6), colours):
            ax.barh(range(len(models)), cell[answer], left=left, color=colour, label=str(answer))
            left += cell[answer].to_numpy()
        ax.set_yticks(range(len(models)), models if ax is np.atleast_1d(axes)[0] else [], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_title(name, fontsize=8)
    np.atleast_1d(axes)[-1].legend(
        title="answer", fontsize=6, title_fontsize=6, loc="center left", bbox_to_anchor=(1, 0.5)
    )
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
