"""The user study of §IV-B, made so that anyone can run it again: a kit of images that names no
model, the paper's five questions with their exact 1–5 scales, and Table II computed from answers.

The paper rated five images per model, made with the same seeds across models, through an external
form; its raw answers are not public. Here the kit is built from notebook 05's evaluation images
(the very pixels Table I scores), listed in one shuffled order under random ids, with the attention
checks and the texts raters read; the survey shows each rater their own shuffle of them
(``pages.Study.order``). The key from id to model is written outside the kit, so the kit can be
served or handed out as it is. Answers come from the survey (``clipcreate_lib.study.survey``) or from
any CSV with the same columns.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import shutil
import sqlite3
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from clipcreate_lib import artifacts
from clipcreate_lib.config import UserStudyConfig
from clipcreate_lib.evaluation import generation
from clipcreate_lib.study.pages import STUDY
from clipcreate_lib.study.questions import INSTRUCTIONS, QUESTIONS
from clipcreate_lib.study.responses import read_key

KEY_COLUMNS = ["kit", "image", "position", "model", "index", "prompt", "seed"]


class KitChangedError(RuntimeError):
    """The kit would be rebuilt with other images while answers to the current one exist."""


def build_kit(
    cfg: UserStudyConfig, eval_dirs: Mapping[str, Path], kit_dir: Path, key_file: Path, answers_file: Path | None = None
) -> pd.DataFrame:
    """Write the kit (``kit_dir``: study.json and images/) and its key (``key_file``); return the key.

    Image i of every model in ``cfg.models`` for i in ``cfg.image_indices``, copied byte for byte from
    notebook 05's sets, shuffled into one order and renamed to random ids (both from ``cfg.seed``).
    The kit's id digests the images, the questions and the attention checks; a kit and key with the
    same id are reused, with study.json's texts and platform settings (``settings``) brought up to
    date. A kit with another id is not replaced while ``answers_file`` holds answers, since they
    would then point at the wrong pages.
    """
    chosen = _chosen_images(cfg, eval_dirs)
    questions = [asdict(q) for q in QUESTIONS]
    pages = {"images": [(m, i, d) for m, i, _, d in chosen], "questions": questions, "seed": cfg.seed}
    if cfg.attention_answers:  # kits without checks keep the id they had before checks existed
        pages["attention"] = list(cfg.attention_answers)
    kit = artifacts.short_hash(pages)
    kit_dir, key_file = Path(kit_dir), Path(key_file)
    current = current_kit(kit_dir)
    if current == kit and key_file.exists():
        key = read_key(key_file)
        if set(key["kit"]) == {kit}:
            _update_settings(kit_dir, cfg)
            return key
    if current is not None and answers_file is not None and holds_answers(Path(answers_file)):
        raise KitChangedError(
            f"The study kit would change (other images or settings), but {answers_file} holds "
            f"answers to the current kit; move both away before rebuilding it."
        )
    rng = random.Random(cfg.seed)
    ids = _random_ids(rng, len(chosen))
    order = list(range(len(chosen)))
    rng.shuffle(order)
    key = pd.DataFrame(
        [_key_row(kit, ids[pos], pos + 1, *chosen[k][:2]) for pos, k in enumerate(order)], columns=KEY_COLUMNS
    )
    _write_kit(kit_dir, kit, cfg, key["image"].tolist(), [chosen[k][2] for k in order])
    artifacts.save_csv(key_file, key)
    return key


def _key_row(kit: str, image: str, position: int, model: str, index: int) -> dict:
    """What an anonymous image id stands for: its place in the kit, its model, and its prompt and seed."""
    return {
        "kit": kit,
        "image": image,
        "position": position,
        "model": model,
        "index": index,
        "prompt": generation.prompt(index),
        "seed": index,
    }


def settings(cfg: UserStudyConfig, kit: str) -> dict:
    """What study.json says besides its pages, which may change while answers exist: the consent text,
    the instructions, the platform's URL parameters and the completion code and URL."""
    return {
        "consent": cfg.consent,
        "instructions": INSTRUCTIONS,
        "participant_parameters": list(cfg.participant_parameters),
        "completion_code": cfg.completion_code or f"CC{kit[:8].upper()}",
        "completion_url": cfg.completion_url,
    }


def _update_settings(kit_dir: Path, cfg: UserStudyConfig) -> None:
    """Rewrite study.json (atomically) when its ``settings`` differ from ``cfg``'s; its pages stay."""
    study = json.loads((kit_dir / STUDY).read_text())
    wanted = settings(cfg, study["kit"])
    if any(study.get(name) != value for name, value in wanted.items()):
        artifacts.save_json(kit_dir / STUDY, {**study, **wanted})


def _write_kit(kit_dir: Path, kit: str, cfg: UserStudyConfig, ids: list[str], pngs: list[Path]) -> None:
    """The kit folder, whole or not at all: study.json and ``pngs`` copied under ``ids``, in that order."""
    study = {
        "kit": kit,
        **settings(cfg, kit),
        "questions": [asdict(q) for q in QUESTIONS],
        "images": [{"id": image, "file": f"images/{image}.png"} for image in ids],
        "attention_checks": [
            {"page": f"check-{j}", "instructed": answer} for j, answer in enumerate(cfg.attention_answers, 1)
        ],
    }
    staging = artifacts.staging_dir(kit_dir)
    try:
        (staging / "images").mkdir()
        for image, png in zip(ids, pngs):
            shutil.copyfile(png, staging / "images" / f"{image}.png")
        (staging / STUDY).write_text(json.dumps(study, indent=2))
        artifacts.replace_dir(staging, kit_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def holds_answers(survey_db: Path) -> bool:
    """Whether the survey's SQLite file holds any answer (the server creates it empty on its first start)."""
    if not survey_db.exists():
        return False
    with contextlib.closing(sqlite3.connect(survey_db)) as db:
        try:
            return db.execute("SELECT EXISTS (SELECT 1 FROM answers)").fetchone()[0] == 1
        except sqlite3.DatabaseError:  # not a survey database: keep it, and the kit, as they are
            return True


def current_kit(kit_dir: Path) -> str | None:
    """The id of the kit in ``kit_dir``, or None when there is none."""
    study = Path(kit_dir) / STUDY
    return json.loads(study.read_text())["kit"] if study.exists() else None


def _chosen_images(cfg: UserStudyConfig, eval_dirs: Mapping[str, Path]) -> list[tuple[str, int, Path, str]]:
    """(model, index, PNG, SHA-256) of every image the kit shows, from notebook 05's manifests."""
    if len(set(cfg.image_indices)) != len(cfg.image_indices) or min(cfg.image_indices) < 0:
        raise ValueError(f"user_study.image_indices must be distinct indices >= 0, got {cfg.image_indices}.")
    chosen = []
    for model in cfg.models:
        manifest_file = Path(eval_dirs[model]) / generation.MANIFEST
        if not manifest_file.exists():
            raise FileNotFoundError(
                f"No evaluation images of {model} at {manifest_file.parent}; run notebook 05 first."
            )
        files = pd.read_csv(manifest_file).set_index("index")["file"]
        missing = [i for i in cfg.image_indices if i not in files.index]
        if missing:
            raise ValueError(
                f"{model}'s evaluation set has no image {missing[0]} (it has {len(files)}); lower "
                f"user_study.image_indices or raise evaluation.images."
            )
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
