"""The user study of §IV-B, made so that anyone can run it again: a kit of images that names no
model, the paper's five questions with their exact 1–5 scales, and Table II computed from answers.

The paper rated five images per model, made with the same seeds across models, through an external
form; its raw answers are not public. Here the kit is built from notebook 05's evaluation images
(the very pixels Table I scores), listed in one shuffled order under random ids; the survey shows each
rater their own shuffle of them (``survey.Study.order``). The key from id to
model is written outside the kit, so the kit can be served or handed out as it is. Answers come from
the survey web app (``clipcreate_lib.survey``) or from any CSV with the same columns.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import random
import shutil
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from clipcreate_lib import artifacts, evaluation
from clipcreate_lib.config import UserStudyConfig
from clipcreate_lib.tables import MISSING


@dataclass(frozen=True)
class Question:
    key: str  # Table II's column for it
    name: str  # the paper's abbreviation, Table II's header
    text: str  # the question as the paper asked it
    scale: tuple[str, str, str, str, str]  # the paper's labels of answers 1 .. 5


# Seed 000 §IV-B, word for word (its "some how" included).
QUESTIONS = (
    Question("app", "App", "How much do you like this image",
             ("extremely dislike", "dislike", "Neutral", "like", "extremely like")),
    Question("nov", "Nov", "Rate the novelty of the image",
             ("extremely not novel", "some how not novel", "neutral", "somehow novel", "extremely novel")),
    Question("sur", "Sur", "Do you find the image surprising",
             ("extremely not surprising", "some how not surprising", "neutral", "some how surprising",
              "extremely surprising")),
    Question("amb", "Amb", "Rate the ambiguity of the image. I find this image",
             ("extremely not ambiguous", "some how not ambiguous", "neutral", "some how ambiguous",
              "extremely ambiguous")),
    Question("com", "Com", "Rate the complexity of the image. I find this image",
             ("extremely simple", "some how simple", "neutral", "somehow complex", "extremely complex")),
)
QUESTION_KEYS = tuple(q.key for q in QUESTIONS)
ANSWERS = range(1, 6)

PAPER_TABLE2 = pd.DataFrame(
    [("disc-full", 3.048, 2.784, 2.576, 2.920, 3.040), ("clip-full", 3.376, 2.920, 2.728, 2.656, 3.224),
     ("kmeans-full", 3.104, 2.760, 2.656, 2.808, 3.248), ("disc-med", 2.600, 2.728, 2.520, 3.144, 3.064),
     ("clip-med", 2.936, 3.032, 2.808, 2.784, 3.104), ("kmeans-med", 3.216, 3.328, 2.960, 3.448, 3.728)],
    columns=["model", *QUESTION_KEYS],
)

STUDY = "study.json"  # in the kit: questions and the images (in the kit's order; each rater sees a shuffle)
RESPONSE_COLUMNS = ["kit", "rater", "image", "question", "answer", "submitted_at"]
KEY_COLUMNS = ["kit", "image", "position", "model", "index", "prompt", "seed"]
SYNTHETIC_PREFIX = "synthetic"  # response files whose name starts so are made up, never human data
INSTRUCTIONS = ("You will see a series of images. For each image, answer the five questions on a scale "
                "from 1 to 5. There are no right or wrong answers.")


class KitChangedError(RuntimeError):
    """The kit would be rebuilt with other images while answers to the current one exist."""


def build_kit(cfg: UserStudyConfig, eval_dirs: Mapping[str, Path], kit_dir: Path, key_file: Path,
              answers_file: Path | None = None) -> pd.DataFrame:
    """Write the kit (``kit_dir``: study.json and images/) and its key (``key_file``); return the key.

    Image i of every model in ``cfg.models`` for i in ``cfg.image_indices``, copied byte for byte from
    notebook 05's sets, shuffled into one order and renamed to random ids (both from ``cfg.seed``).
    The kit's id digests the images and the questions; a kit and key with the same id are reused. A
    kit with another id is not replaced while ``answers_file`` exists, since its answers would then
    point at the wrong images.
    """
    chosen = _chosen_images(cfg, eval_dirs)
    kit = artifacts.short_hash({"images": [(m, i, digest) for m, i, _, digest in chosen],
                                "questions": [asdict(q) for q in QUESTIONS], "seed": cfg.seed})
    kit_dir, key_file = Path(kit_dir), Path(key_file)
    current = current_kit(kit_dir)
    if current == kit and key_file.exists():
        key = read_key(key_file)
        if set(key["kit"]) == {kit}:
            return key
    if current is not None and answers_file is not None and holds_answers(Path(answers_file)):
        raise KitChangedError(f"The study kit would change (other images or settings), but {answers_file} holds "
                              f"answers to the current kit; move both away before rebuilding it.")
    rng = random.Random(cfg.seed)
    ids = _random_ids(rng, len(chosen))
    order = list(range(len(chosen)))
    rng.shuffle(order)
    key = pd.DataFrame([{"kit": kit, "image": ids[pos], "position": pos + 1, "model": chosen[k][0],
                         "index": chosen[k][1], "prompt": evaluation.prompt(chosen[k][1]), "seed": chosen[k][1]}
                        for pos, k in enumerate(order)], columns=KEY_COLUMNS)
    study = {"kit": kit, "instructions": INSTRUCTIONS, "questions": [asdict(q) for q in QUESTIONS],
             "images": [{"id": image, "file": f"images/{image}.png"} for image in key["image"]]}
    staging = artifacts.staging_dir(kit_dir)
    try:
        (staging / "images").mkdir()
        for pos, k in enumerate(order):
            shutil.copyfile(chosen[k][2], staging / "images" / f"{ids[pos]}.png")
        (staging / STUDY).write_text(json.dumps(study, indent=2))
        artifacts.replace_dir(staging, kit_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    artifacts.save_csv(key_file, key)
    return key


def holds_answers(survey_db: Path) -> bool:
    """Whether the survey's SQLite file holds any answer (the server creates it empty on its first start)."""
    if not survey_db.exists():
        return False
    with contextlib.closing(sqlite3.connect(survey_db)) as db:
        try:
            return db.execute("SELECT EXISTS (SELECT 1 FROM answers)").fetchone()[0] == 1
        except sqlite3.DatabaseError:  # not a survey database: keep it, and the kit, as they are
            return True


def read_key(key_file: Path) -> pd.DataFrame:
    """The key as written: kit and image ids stay strings (a kit id such as '001234567890' or
    '12345e678901' would otherwise come back as a number)."""
    return pd.read_csv(key_file, dtype={"kit": str, "image": str}, keep_default_na=False)


def current_kit(kit_dir: Path) -> str | None:
    """The id of the kit in ``kit_dir``, or None when there is none."""
    study = Path(kit_dir) / STUDY
    return json.loads(study.read_text())["kit"] if study.exists() else None


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
    rows = [{"kit": kit, "rater": f"synthetic-{r:02d}", "image": image, "question": q, "answer": int(a),
             "submitted_at": "synthetic"}
            for r in range(1, raters + 1)
            for kit, image in zip(key["kit"], key["image"])
            for q, a in zip(QUESTION_KEYS, rng.integers(1, 6, size=len(QUESTION_KEYS)))]
    return pd.DataFrame(rows, columns=RESPONSE_COLUMNS)


def read_responses(files: Sequence[Path]) -> pd.DataFrame:
    """Concatenate response CSVs, refusing a file with missing columns, a row without a rater, an answer
    outside the scales, or an answer given twice (the same kit, rater, image and question in two rows,
    as an earlier export kept beside survey.csv would give)."""
    tables = []
    for file in files:
        # ids are text as typed: a participant id "NA" or "null" is a rater, not a missing value
        table = pd.read_csv(file, dtype={"kit": str, "rater": str, "image": str}, keep_default_na=False,
                            na_values={"answer": [""]})
        missing = [c for c in RESPONSE_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"{file} lacks the column(s) {', '.join(missing)}; response files have "
                             f"{', '.join(RESPONSE_COLUMNS)}.")
        bad = table[~table["question"].isin(QUESTION_KEYS) | ~table["answer"].isin(list(ANSWERS))]
        if len(bad):
            row = bad.iloc[0]
            raise ValueError(f"{file} row {bad.index[0] + 2}: question '{row['question']}' with answer "
                             f"'{row['answer']}'; questions are {', '.join(QUESTION_KEYS)} and answers 1 to 5.")
        if (table["rater"] == "").any():
            raise ValueError(f"{file} row {int(table.index[table['rater'] == ''][0]) + 2} has no rater.")
        tables.append(table[RESPONSE_COLUMNS].assign(file=Path(file).name))
    if not tables:
        return pd.DataFrame(columns=RESPONSE_COLUMNS)
    answers = pd.concat(tables, ignore_index=True)
    twice = answers[answers.duplicated(["kit", "rater", "image", "question"], keep=False)]
    if len(twice):
        row = twice.iloc[0]
        raise ValueError(f"rater {row['rater']} answered '{row['question']}' for image {row['image']} more than once "
                         f"(in {', '.join(sorted(set(twice.loc[twice['rater'] == row['rater'], 'file'])))}); "
                         f"keep one copy of each answer in the responses folder.")
    return answers[RESPONSE_COLUMNS]


def table2(responses: pd.DataFrame, key: pd.DataFrame, models: Sequence[str], confidence: float) -> pd.DataFrame:
    """Mean answer per model and question, its confidence interval, and the answers and raters behind it.

    Columns: model, the five means, then ``<q>_low``, ``<q>_high`` for each question, then ``<q>_n``
    (answers) and ``<q>_raters``. The mean counts every answer once, as the paper's means do. The
    interval does not: one rater's answers share that rater's leniency, so treating them as
    independent draws would make it too narrow. It is the cluster-robust interval of that mean with
    raters as clusters (``rater_half_width``), which equals the Student t interval of the raters' own
    means when every rater answered equally often. With fewer than two raters it is undefined (NaN).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie between 0 and 1, got {confidence}.")
    merged = responses.merge(key[["kit", "image", "model"]], on=["kit", "image"], how="left")
    stray = merged[merged["model"].isna()]
    if len(stray):
        row = stray.iloc[0]
        raise ValueError(f"{len(stray)} answers name images outside the current kit {key['kit'].iloc[0]} (first: "
                         f"kit {row['kit']}, image {row['image']}); they belong to another kit or were mistyped.")
    rows = []
    for model in models:
        row = {"model": model}
        for q in QUESTION_KEYS:
            cell = merged.loc[(merged["model"] == model) & (merged["question"] == q)]
            answers = cell["answer"].astype(float)
            mean = answers.mean()
            half = rater_half_width(answers, cell["rater"], confidence)
            row.update({q: mean, f"{q}_low": mean - half, f"{q}_high": mean + half, f"{q}_n": len(answers),
                        f"{q}_raters": cell["rater"].nunique()})
        rows.append(row)
    columns = ["model", *QUESTION_KEYS, *[f"{q}_{end}" for q in QUESTION_KEYS for end in ("low", "high")],
               *[f"{q}_{count}" for count in ("n", "raters") for q in QUESTION_KEYS]]
    return pd.DataFrame(rows, columns=columns)


def rater_half_width(answers: pd.Series, raters: pd.Series, confidence: float) -> float:
    """Half the width of the cluster-robust interval of ``answers.mean()``, raters as clusters.

    With R raters, N answers, mean m and S_r the sum of rater r's answers (n_r of them), the
    standard error is sqrt(R / (R - 1) * sum_r (S_r - n_r m)^2) / N, and the interval uses Student t
    with R - 1 degrees of freedom: the count of independent units is the raters, not the answers.
    """
    sums = answers.groupby(raters.to_numpy()).agg(["sum", "count"])
    clusters = len(sums)
    if clusters < 2:
        return np.nan
    mean = answers.mean()
    spread = ((sums["sum"] - sums["count"] * mean) ** 2).sum()
    standard_error = np.sqrt(clusters / (clusters - 1) * spread) / len(answers)
    return stats.t.ppf((1 + confidence) / 2, clusters - 1) * standard_error


def table2_display(numbers: pd.DataFrame) -> pd.DataFrame:
    """'3.05 [2.80, 3.30]' for ours beside the paper's mean, per question, and the answers and raters per cell."""
    paper = PAPER_TABLE2.set_index("model").reindex(numbers["model"])
    display = pd.DataFrame({"model": numbers["model"]})
    for q in QUESTIONS:
        display[f"{q.name} (ours)"] = [_interval(m, lo, hi) for m, lo, hi in
                                       zip(numbers[q.key], numbers[f"{q.key}_low"], numbers[f"{q.key}_high"])]
        display[f"{q.name} (paper)"] = [MISSING if np.isnan(v) else f"{v:.3f}" for v in paper[q.key]]
    for count, header in (("n", "n"), ("raters", "raters")):
        counts = numbers[[f"{q}_{count}" for q in QUESTION_KEYS]]
        display[header] = [str(lo) if lo == hi else f"{lo}–{hi}" for lo, hi in zip(counts.min(axis=1), counts.max(axis=1))]
    return display


def _interval(mean: float, low: float, high: float) -> str:
    if np.isnan(mean):
        return MISSING
    return f"{mean:.2f}" if np.isnan(low) else f"{mean:.2f} [{low:.2f}, {high:.2f}]"


def _chosen_images(cfg: UserStudyConfig, eval_dirs: Mapping[str, Path]) -> list[tuple[str, int, Path, str]]:
    """(model, index, PNG, SHA-256) of every image the kit shows, from notebook 05's manifests."""
    if len(set(cfg.image_indices)) != len(cfg.image_indices) or min(cfg.image_indices) < 0:
        raise ValueError(f"user_study.image_indices must be distinct indices >= 0, got {cfg.image_indices}.")
    chosen = []
    for model in cfg.models:
        manifest_file = Path(eval_dirs[model]) / evaluation.MANIFEST
        if not manifest_file.exists():
            raise FileNotFoundError(f"No evaluation images of {model} at {manifest_file.parent}; run notebook 05 first.")
        files = pd.read_csv(manifest_file).set_index("index")["file"]
        missing = [i for i in cfg.image_indices if i not in files.index]
        if missing:
            raise ValueError(f"{model}'s evaluation set has no image {missing[0]} (it has {len(files)}); lower "
                             f"user_study.image_indices or raise evaluation.images.")
        for i in cfg.image_indices:
            png = Path(eval_dirs[model]) / files[i]
            chosen.append((model, i, png, hashlib.sha256(png.read_bytes()).hexdigest()))
    return chosen


def _random_ids(rng: random.Random, count: int) -> list[str]:
    ids: list[str] = []
    while len(ids) < count:
        candidate = f"{rng.getrandbits(32):08x}"
        if candidate not in ids:
            ids.append(candidate)
    return ids
