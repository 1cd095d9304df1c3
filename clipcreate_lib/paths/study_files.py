"""Where notebook 06's user study keeps its kit, its answers and Table II."""

from __future__ import annotations

from pathlib import Path

from clipcreate_lib.paths import data_dir, figures_dir


def user_study_dir() -> Path:
    return data_dir() / "user_study"


def study_kit_dir() -> Path:
    """What raters see: study.json (questions, anonymous image ids in the shown order) and images/.
    It names no model, so it can be handed out or served as it is."""
    return user_study_dir() / "kit"


def study_key_file() -> Path:
    """Which model, prompt and seed each anonymous image id stands for: kept outside the kit."""
    return user_study_dir() / "key" / "key.csv"


def survey_db() -> Path:
    """The survey web app's SQLite file of answers (append-only)."""
    return user_study_dir() / "survey.sqlite"


def responses_dir() -> Path:
    """Response CSVs (kit, rater, image, question, answer, submitted_at) that Table II is computed from."""
    return user_study_dir() / "responses"


def attention_dir() -> Path:
    """Attention-check CSVs (kit, rater, page, instructed, answer, submitted_at): who is left out of Table II."""
    return user_study_dir() / "attention"


def table2_agreement_stem() -> Path:
    """Table II's inter-rater agreement (Krippendorff's alpha, ordinal) per question: .csv, .md, .tex."""
    return figures_dir() / "table2_agreement"


def table2_stem() -> Path:
    """Table II (mean rating, confidence interval and n per model and question): .csv, .md, .tex."""
    return figures_dir() / "table2"


def table2_plot() -> Path:
    return figures_dir() / "table2.png"


def table2_answers_plot() -> Path:
    """Table II's answer distributions: per question, the share of each answer per model (stacked bars)."""
    return figures_dir() / "table2_answers.png"
