"""The evaluation's results as pictures (notebook 05): every model's ambiguity rise under each judge as a
forest plot, the transfer of ambiguity across classifiers as a heatmap, and the per-image score
distributions as violins."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from clipcreate_lib.figures import profile_note


def forest(table: pd.DataFrame, profile: str):
    """One row per model, one marker per judge: the paired rise over base with its interval; the
    dashed line is no rise. ``table`` is ``verdicts.judges_table``'s long format."""
    models = list(dict.fromkeys(table["model"]))
    judges = list(dict.fromkeys(table["judge"]))
    fig, ax = plt.subplots(figsize=(6.4, 0.55 * len(models) + 1.6), layout="constrained")
    offsets = np.linspace(-0.25, 0.25, len(judges)) if len(judges) > 1 else [0.0]
    for offset, judge in zip(offsets, judges):
        rows = table[table["judge"] == judge].set_index("model").reindex(models)
        y = np.arange(len(models)) + offset
        ax.errorbar(
            rows["rise"],
            y,
            xerr=[rows["rise"] - rows["low"], rows["high"] - rows["rise"]],
            fmt="o",
            ms=4,
            capsize=2,
            label=judge,
        )
    ax.axvline(0, color="grey", ls="--", lw=0.8)
    ax.set_yticks(range(len(models)), models)
    ax.invert_yaxis()
    ax.set_xlabel("ambiguity rise over base (paired, 95% interval)")
    ax.legend(fontsize=7, title="judge", title_fontsize=7, loc="best")
    ax.set_title(f"Does the rise survive held-out judges?\n{profile_note(profile)}", fontsize=9)
    return fig


def transfer(rises: pd.DataFrame, profile: str):
    """Heatmap: rows = trained models, columns = classifiers, cell = the model's mean ambiguity rise
    over base under that classifier (``rises``: index model, columns classifier)."""
    fig, ax = plt.subplots(figsize=(0.75 * rises.shape[1] + 2.4, 0.5 * len(rises) + 1.8), layout="constrained")
    bound = float(np.nanmax(np.abs(rises.to_numpy()))) or 1.0
    image = ax.imshow(rises.to_numpy(), cmap="RdBu_r", vmin=-bound, vmax=bound)
    for (r, c), value in np.ndenumerate(rises.to_numpy()):
        ax.text(c, r, f"{value:.2g}", ha="center", va="center", fontsize=6)
    ax.set_xticks(range(rises.shape[1]), rises.columns, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(rises)), rises.index, fontsize=7)
    ax.set_xlabel("classifier measuring the ambiguity")
    ax.set_ylabel("model (trained against)")
    fig.colorbar(image, ax=ax, label="mean rise over base")
    ax.set_title(f"Ambiguity transfer across classifiers\n{profile_note(profile)}", fontsize=9)
    return fig


def distributions(panels: dict[str, dict[str, np.ndarray]], profile: str):
    """One violin panel per score (``panels[score][model]`` = that model's per-image values)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False, layout="constrained")
    for ax, (score, by_model) in zip(axes[0], panels.items()):
        ax.violinplot(list(by_model.values()), showmedians=True)
        ax.set_xticks(range(1, len(by_model) + 1), list(by_model), rotation=45, ha="right", fontsize=7)
        ax.set_title(score, fontsize=8)
    fig.suptitle(f"Score distributions per model\n{profile_note(profile)}", fontsize=9)
    return fig
