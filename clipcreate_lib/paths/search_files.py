"""Where notebook 08 keeps the latent search's results, its figures and the style-bias audit."""

from __future__ import annotations

from pathlib import Path

from clipcreate_lib.paths import data_dir, figures_dir


def search_results_file(name: str) -> Path:
    """The latent search in label set ``name``'s CAN generator: every query's gradient-search starts
    and results, its NSGA-II front and final population, and the random z scored for reference (a
    torch file of tensors, with its provenance beside it)."""
    return data_dir() / "search" / f"{name}.pt"


def latent_search_stem() -> Path:
    """CLIP score and realness per label set, query and method (mean, standard error): .csv, .md, .tex."""
    return figures_dir() / "latent_search"


def latent_search_gain_stem() -> Path:
    """The gradient search's CLIP cosine over random z's, per label set and query, in standard errors."""
    return figures_dir() / "latent_search_gain"


def latent_search_pareto_plot() -> Path:
    return figures_dir() / "latent_search_pareto.png"


def latent_search_grid_plot() -> Path:
    return figures_dir() / "latent_search_grid.png"


def style_bias_stem() -> Path:
    """The style-bias audit, one row per image set and classifier (.csv, .md, .tex); any notebook may
    add its own image sets' rows (``search.audit.record``)."""
    return figures_dir() / "style_bias"


def style_bias_shares_file() -> Path:
    """The audit's long table: every image set's share of every style under every classifier, with
    the reference share; the heatmap is drawn from it."""
    return figures_dir() / "style_bias_shares.csv"


def style_bias_plot() -> Path:
    """Heatmap of image set x style share, one panel per classifier."""
    return figures_dir() / "style_bias.png"
