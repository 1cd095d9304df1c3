"""The pages of a study as the survey serves them: the kit's images and attention checks, the texts
raters read, each rater's own order of the pages, and the checking of a submitted page."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from clipcreate_lib.study.questions import ANSWERS, QUESTIONS, Question, attention_question

STUDY = "study.json"  # in the kit: texts, questions, images (in the kit's order; each rater sees a shuffle), checks
RATER = re.compile(r"[A-Za-z0-9_-]{1,64}")  # ASCII only: re's [A-Za-z0-9] is not \w
RATER_RULE = "The participant id must be 1 to 64 letters, digits, '-' or '_'."


class InvalidAnswer(ValueError):
    """A submitted page that cannot be stored; its message is shown to the rater."""


@dataclass(frozen=True)
class Check:
    """An attention-check page: its id and the answer it instructs."""

    page: str
    instructed: int


@dataclass(frozen=True)
class Study:
    """A kit as the survey serves it: its id, its images and their files, its attention checks, and
    the texts and platform settings of study.json (``kit.build_kit`` writes them)."""

    kit: str
    images: tuple[str, ...]
    files: Mapping[str, Path]
    checks: tuple[Check, ...] = ()
    consent: str = ""
    instructions: str = ""
    parameters: tuple[str, ...] = ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID")  # the first names the rater
    completion_code: str = ""
    completion_url: str = ""

    def order(self, rater: str) -> tuple[str, ...]:
        """The images in the order this rater sees them: the kit's images shuffled by a seed made of the
        kit id and the rater id, so each rater meets them in an order of their own (an image's place
        in the sequence does not fall on one model for everyone), the same order on every visit."""
        images = list(self.images)
        random.Random(f"{self.kit}/{rater}").shuffle(images)  # a str seed is hashed with SHA-512: stable
        return tuple(images)

    def pages(self, rater: str) -> tuple[str, ...]:
        """This rater's images (``order``) with the attention checks spread evenly among them: check j
        of k comes after image round(j n / (k + 1)) of n, the same places for every rater."""
        pages = list(self.order(rater))
        for j in range(len(self.checks), 0, -1):  # from the last, so earlier places stay put
            pages.insert(round(j * len(self.images) / (len(self.checks) + 1)), self.checks[j - 1].page)
        return tuple(pages)

    def questions(self, page: str) -> tuple[Question, ...]:
        """What ``page`` asks: the five questions of an image, the one of an attention check; () for
        a page that is not part of this study."""
        if page in self.files:
            return QUESTIONS
        check = self.check(page)
        return () if check is None else (attention_question(check.instructed),)

    def check(self, page: str) -> Check | None:
        """The attention check ``page`` is, or None."""
        return next((c for c in self.checks if c.page == page), None)

    @classmethod
    def load(cls, kit_dir: Path) -> Study:
        study_file = Path(kit_dir) / STUDY
        if not study_file.exists():
            raise FileNotFoundError(
                f"No study kit at {kit_dir}; run notebook 06 first, which builds it from notebook 05's images."
            )
        study = json.loads(study_file.read_text())
        return cls(
            kit=study["kit"],
            images=tuple(item["id"] for item in study["images"]),
            files={item["id"]: (Path(kit_dir) / item["file"]).resolve() for item in study["images"]},
            checks=tuple(Check(c["page"], c["instructed"]) for c in study["attention_checks"]),
            consent=study["consent"],
            instructions=study["instructions"],
            parameters=tuple(study["participant_parameters"]),
            completion_code=study["completion_code"],
            completion_url=study["completion_url"],
        )


def validate(study: Study, form: Mapping[str, str]) -> tuple[str, str, dict[str, int]]:
    """(rater, page, answers by question key) of a submitted page, or InvalidAnswer saying in one
    sentence what is wrong. ``form`` maps each field to its (first) value."""
    rater = (form.get("rater") or "").strip()
    if not RATER.fullmatch(rater):
        raise InvalidAnswer(RATER_RULE)
    page = (form.get("image") or "").strip()
    asked = study.questions(page)
    if not asked:
        raise InvalidAnswer(f"Image '{page}' is not part of this study.")
    answers = {}
    for q in asked:
        value = (form.get(q.key) or "").strip()
        if not value:
            raise InvalidAnswer(f"Please answer every question: '{q.text}' has no answer.")
        if value not in {str(a) for a in ANSWERS}:
            raise InvalidAnswer(f"The answer to '{q.text}' must be a whole number from 1 to 5, not '{value}'.")
        answers[q.key] = int(value)
    return rater, page, answers
