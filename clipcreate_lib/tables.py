"""The paper's tables as three files each: CSV (numbers, for code), Markdown (for the README and
GitHub, with the paper's numbers beside ours) and LaTeX (for a manuscript).

The CSV holds full-precision numbers; Markdown and LaTeX show the same numbers rounded, and are
built from the same display table, so the three can never disagree.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from clipcreate_lib import artifacts

MISSING = "—"


def mean_std(mean: float, std: float, digits: int = 2) -> str:
    """'4.96 (0.50)': a cell of the paper's tables; NaN (no value) -> an em dash."""
    if np.isnan(mean):
        return MISSING
    return f"{mean:.{digits}f} ({std:.{digits}f})"


def markdown(display: pd.DataFrame, caption: str) -> str:
    """A caption paragraph, then a pipe table of the display strings."""
    header = "| " + " | ".join(display.columns) + " |"
    rule = "|" + "|".join(["---"] + [":-:"] * (display.shape[1] - 1)) + "|"
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in display.itertuples(index=False)]
    return "\n".join([caption, "", header, rule, *rows]) + "\n"


def latex(display: pd.DataFrame, caption: str, label: str) -> str:
    """A booktabs ``table`` environment of the display strings."""

    def cell(value) -> str:
        return _escape(str(value)).replace(MISSING, "--")

    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{_escape(caption)}}}",
        rf"\label{{{label}}}",
        r"\begin{tabular}{l" + "c" * (display.shape[1] - 1) + "}",
        r"\toprule",
        " & ".join(cell(c) for c in display.columns) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(cell(v) for v in row) + r" \\" for row in display.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def write(numbers: pd.DataFrame, display: pd.DataFrame, stem: Path, caption: str, label: str) -> list[Path]:
    """``stem``.csv from ``numbers``; ``stem``.md and ``stem``.tex from ``display``; each atomically."""
    stem = Path(stem)
    files = [artifacts.save_csv(stem.with_suffix(".csv"), numbers)]
    for suffix, text in ((".md", markdown(display, caption)), (".tex", latex(display, caption, label))):
        files.append(artifacts.atomic_write(stem.with_suffix(suffix), lambda f, t=text: f.write(t.encode())))
    return files


def read_markdown(path: Path) -> pd.DataFrame:
    """The display table of a Markdown file written by ``write`` (strings, as shown)."""
    lines = [line for line in Path(path).read_text().splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return pd.DataFrame(cells[2:], columns=cells[0])


def _escape(text: str) -> str:
    text = text.replace("\\", "\x00")  # a backslash first, so the escapes below are not escaped again
    for char in "&%$#_{}":
        text = text.replace(char, "\\" + char)
    text = text.replace("~", r"\textasciitilde{}").replace("^", r"\textasciicircum{}")
    return text.replace("\x00", r"\textbackslash{}").replace("±", r"$\pm$")
