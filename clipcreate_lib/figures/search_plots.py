"""The latent search's and the style-bias audit's figures (notebook 08): the Pareto plot of CLIP score
against realness, the grid of the best images per query, and the heatmap of style shares."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from clipcreate_lib.figures import profile_note


def pareto(found: dict[str, dict], profile: str):
    """One panel per label set and query: random z, the gradient search's starts and results, NSGA-II's
    final population and its non-dominated front (joined), with the CLIP cosine on x and realness on y.
    ``found[label_set]`` is a saved search (``search.results.run``)."""
    panels = [(name, q, query) for name, r in found.items() for q, query in enumerate(r["queries"])]
    cols = min(len(panels), 4)
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.2 * rows + 0.6), squeeze=False, layout="constrained")
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    for ax, (name, q, query) in zip(axes.ravel(), panels):
        r = found[name]
        g, f = r["gradient"][q], r["front"][q]
        ax.scatter(r["random"]["clip"][:, q], r["random"]["real"], s=8, c="0.7", label="random z")
        ax.scatter(g["clip0"], g["real0"], s=10, marker="x", c="tab:blue", alpha=0.5, label="starts")
        ax.scatter(g["clip"], g["real"], s=14, c="tab:blue", label="gradient search")
        ax.scatter(f["population_clip"], f["population_real"], s=10, c="tab:orange", alpha=0.4, label="NSGA-II pop.")
        order = np.argsort(f["clip"].numpy())
        ax.plot(f["clip"][order], f["real"][order], "o-", c="tab:red", ms=4, lw=1, label="NSGA-II front")
        ax.set_title(f"{name} CAN: {query!r}", fontsize=8)
        ax.set_xlabel("CLIP cosine with the query", fontsize=8)
        ax.set_ylabel("realness D(G(z))", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(
        f"Latent search in the CAN generators: CLIP score against realness\n{profile_note(profile)}", fontsize=9
    )
    return fig


def grid(rows: dict[str, list[tuple[np.ndarray, str]]], profile: str):
    """One row per label set and query (the dict's keys): its images (H, W, 3) with a title each."""
    width = max(len(images) for images in rows.values())
    fig, axes = plt.subplots(
        len(rows), width, figsize=(1.3 * width + 1.8, 1.45 * len(rows) + 0.6), squeeze=False, layout="constrained"
    )
    for r, (label, images) in enumerate(rows.items()):
        for c in range(width):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(images):
                ax.imshow(images[c][0])
                ax.set_title(images[c][1], fontsize=6, pad=2)
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle(f"The gradient search's best images per query (CLIP cosine)\n{profile_note(profile)}", fontsize=9)
    return fig


def style_bias(shares: pd.DataFrame, profile: str):
    """One heatmap per classifier: image sets (rows, the reference on top) by style (columns), each
    cell the share of the set's images predicted in that style. ``shares`` is the audit's long table."""
    names = list(dict.fromkeys(shares["classifier"]))
    sets = list(dict.fromkeys(shares["image_set"]))
    cols = min(len(names), 3)
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(6.2 * cols, (0.22 * len(sets) + 2.2) * rows), squeeze=False, layout="constrained"
    )
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    for ax, name in zip(axes.ravel(), names):
        part = shares[shares["classifier"] == name]
        styles = list(dict.fromkeys(part["style"]))
        table = part.pivot_table(index="image_set", columns="style", values="share", sort=False)
        reference = part.drop_duplicates("style").set_index("style")["reference_share"]
        matrix = np.vstack([reference.reindex(styles).to_numpy(), table.reindex(index=sets, columns=styles).to_numpy()])
        image = ax.imshow(matrix, aspect="auto", cmap="magma", vmin=0, vmax=1)
        ax.set_yticks(range(len(sets) + 1), ["reference"] + sets, fontsize=6)
        ax.set_xticks(range(len(styles)), [s.replace("_", " ") for s in styles], fontsize=5, rotation=90)
        ax.axhline(0.5, c="white", lw=1)
        ax.set_title(name, fontsize=8)
        fig.colorbar(image, ax=ax, shrink=0.8).ax.tick_params(labelsize=6)
    fig.suptitle(f"Style-bias audit: share of each set's images predicted in each style\n{profile_note(profile)}")
    return fig
