"""Notebook 07's sweep: how far each guided method raises the style ambiguity as its one knob turns
(one-step guidance's scale, DOODL's optimisation steps). Its image grid is ``result_plots.figure1``."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from clipcreate_lib.figures import profile_note

PANELS = {"onestep": "one-step guidance: scale", "doodl": "DOODL: optimisation steps"}


def sweep(points: pd.DataFrame, profile: str):
    """The paired ambiguity rise over the untrained model (95% interval) against each method's setting."""
    fig, axes = plt.subplots(1, len(PANELS), figsize=(8.5, 3.3), squeeze=False, layout="constrained")
    for ax, (method, label) in zip(axes[0], PANELS.items()):
        p = points[points["method"] == method].sort_values("setting")
        if p.empty:
            ax.set_visible(False)
            continue
        below, above = p["ambiguity_rise"] - p["ambiguity_rise_low"], p["ambiguity_rise_high"] - p["ambiguity_rise"]
        ax.errorbar(p["setting"], p["ambiguity_rise"], yerr=[below, above], marker="o", capsize=3)
        ax.axhline(0, color="grey", lw=0.8, ls="--")
        ax.set_xlabel(label)
        ax.set_ylabel(f"ambiguity rise under {p['classifier'].iloc[0]}")
        ax.set_title(f"{int(p['images'].iloc[0])} images, paired with the untrained model's", fontsize=8)
    fig.suptitle(f"Style ambiguity against each guided method's setting\n{profile_note(profile)}", fontsize=9)
    return fig
