"""The plots the notebooks save under figures/, one function per figure, each returning its matplotlib
Figure: ``data_plots`` (notebooks 01-02), ``training_plots`` (03-04), ``result_plots`` (05-06),
``search_plots`` (08), ``token_plots`` (09).
``profile_note`` is the caption every figure and table ends with."""

from __future__ import annotations


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
