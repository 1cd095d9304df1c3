"""Where notebook 07 keeps its guided image sets, Table III, the sweep and the guidance grid."""

from __future__ import annotations

from pathlib import Path

from clipcreate_lib.paths import data_dir, figures_dir


def guidance_dir(method: str, classifier: str, setting: str = "") -> Path:
    """One guided set ('onestep' or 'doodl', a classifier's model name, and for a sweep point its
    setting): images/, manifest.csv with its provenance, scores.csv and cost.json."""
    name = f"{method}-{classifier}" + (f"-{setting}" if setting else "")
    return data_dir() / "guidance" / name


def table3_stem() -> Path:
    """Table III (base, the DDPO models and both guided methods per classifier): .csv, .md, .tex."""
    return figures_dir() / "table3"


def guidance_sweep_stem() -> Path:
    """Ambiguity against the one-step guidance scale and DOODL's optimisation steps: .csv, .md, .tex."""
    return figures_dir() / "guidance_sweep"


def guidance_grid_files() -> list[Path]:
    return [figures_dir() / "guidance_grid.png", figures_dir() / "guidance_grid.pdf"]


def guidance_sweep_files() -> list[Path]:
    return [figures_dir() / "guidance_sweep.png", figures_dir() / "guidance_sweep.pdf"]
