"""The answers Table II is computed from: response CSVs (the survey's export, or any file with the same
columns), checked as they are read, and a synthetic example to run the pipeline on before anyone answers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from clipcreate_lib.study.questions import ANSWERS, QUESTION_KEYS

RESPONSE_COLUMNS = ["kit", "rater", "image", "question", "answer", "submitted_at"]
CHECK_COLUMNS = ["kit", "rater", "page", "instructed", "answer", "submitted_at"]  # attention checks
SYNTHETIC_PREFIX = "synthetic"  # response files whose name starts so are made up, never human data


def response_files(responses_dir: Path) -> tuple[list[Path], bool]:
    """The response CSVs to use and whether they are synthetic: the human ones if any exist, else the
    synthetic example files (an empty list when there are neither)."""
    files = sorted(Path(responses_dir).glob("*.csv"))
    human = [f for f in files if not f.name.startswith(SYNTHETIC_PREFIX)]
    return (human, False) if human else ([f for f in files if f not in human], True)


def synthetic_responses(key: pd.DataFrame, raters: int, seed: int) -> pd.DataFrame:
    """Made-up answers for the pipeline to run on when no human has answered: each simulated rater
    ('synthetic-NN') rates every image of the kit, each answer drawn uniformly from 1..5 (seeded).
    They carry no information about the models; a table made from them shows the method only."""
    rng = np.random.default_rng(seed)
    rows = [
        {
            "kit": kit,
            "rater": f"synthetic-{r:02d}",
            "image": image,
            "question": q,
            "answer": int(a),
            "submitted_at": "synthetic",
        }
        for r in range(1, raters + 1)
        for kit, image in zip(key["kit"], key["image"])
        for q, a in zip(QUESTION_KEYS, rng.integers(1, 6, size=len(QUESTION_KEYS)))
    ]
    return pd.DataFrame(rows, columns=RESPONSE_COLUMNS)


def read_responses(files: Sequence[Path]) -> pd.DataFrame:
    """Concatenate response CSVs, refusing a file with missing columns, a row without a rater, an answer
    outside the scales, or an answer given twice (the same kit, rater, image and question in two rows,
    as an earlier export kept beside survey.csv would give)."""
    tables = []
    for file in files:
        # ids are text as typed: a participant id "NA" or "null" is a rater, not a missing value
        table = pd.read_csv(
            file, dtype={"kit": str, "rater": str, "image": str}, keep_default_na=False, na_values={"answer": [""]}
        )
        missing = [c for c in RESPONSE_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(
                f"{file} lacks the column(s) {', '.join(missing)}; response files have {', '.join(RESPONSE_COLUMNS)}."
            )
        bad = table[~table["question"].isin(QUESTION_KEYS) | ~table["answer"].isin(list(ANSWERS))]
        if len(bad):
            row = bad.iloc[0]
            raise ValueError(
                f"{file} row {bad.index[0] + 2}: question '{row['question']}' with answer "
                f"'{row['answer']}'; questions are {', '.join(QUESTION_KEYS)} and answers 1 to 5."
            )
        if (table["rater"] == "").any():
            raise ValueError(f"{file} row {int(table.index[table['rater'] == ''][0]) + 2} has no rater.")
        tables.append(table[RESPONSE_COLUMNS].assign(file=Path(file).name))
    if not tables:
        return pd.DataFrame(columns=RESPONSE_COLUMNS)
    answers = pd.concat(tables, ignore_index=True)
    twice = answers[answers.duplicated(["kit", "rater", "image", "question"], keep=False)]
    if len(twice):
        row = twice.iloc[0]
        raise ValueError(
            f"rater {row['rater']} answered '{row['question']}' for image {row['image']} more than once "
            f"(in {', '.join(sorted(set(twice.loc[twice['rater'] == row['rater'], 'file'])))}); "
            f"keep one copy of each answer in the responses folder."
        )
    return answers[RESPONSE_COLUMNS]


def read_checks(files: Sequence[Path]) -> pd.DataFrame:
    """Attention-check CSVs (the survey's export) concatenated, refusing a file with missing columns."""
    tables = []
    for file in files:
        table = pd.read_csv(file, dtype={"kit": str, "rater": str, "page": str}, keep_default_na=False)
        missing = [c for c in CHECK_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(
                f"{file} lacks the column(s) {', '.join(missing)}; attention-check files have "
                f"{', '.join(CHECK_COLUMNS)}."
            )
        tables.append(table[CHECK_COLUMNS])
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=CHECK_COLUMNS)


def excluded_raters(checks: pd.DataFrame, max_failed: int) -> list[str]:
    """Raters who gave another answer than the instructed one on more than ``max_failed`` attention
    checks (the exclusion rule, ``user_study.max_failed_checks``), sorted. A check a rater never
    reached is not a failure: they are judged on the checks they answered."""
    failed = checks.loc[checks["answer"].astype(int) != checks["instructed"].astype(int), "rater"].value_counts()
    return sorted(failed.index[failed > max_failed])


def read_key(key_file: Path) -> pd.DataFrame:
    """The key as written: kit and image ids stay strings (a kit id such as '001234567890' or
    '12345e678901' would otherwise come back as a number)."""
    return pd.read_csv(key_file, dtype={"kit": str, "image": str}, keep_default_na=False)
