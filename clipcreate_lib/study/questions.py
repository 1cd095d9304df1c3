"""The paper's user study as it was asked (seed 000 §IV-B): five questions, each on a 1-5 scale,
and the instructions raters read first."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Question:
    key: str  # Table II's column for it
    name: str  # the paper's abbreviation, Table II's header
    text: str  # the question as the paper asked it
    scale: tuple[str, str, str, str, str]  # the paper's labels of answers 1 .. 5


# Seed 000 §IV-B, word for word (its "some how" included).
QUESTIONS = (
    Question(
        "app",
        "App",
        "How much do you like this image",
        ("extremely dislike", "dislike", "Neutral", "like", "extremely like"),
    ),
    Question(
        "nov",
        "Nov",
        "Rate the novelty of the image",
        ("extremely not novel", "some how not novel", "neutral", "somehow novel", "extremely novel"),
    ),
    Question(
        "sur",
        "Sur",
        "Do you find the image surprising",
        (
            "extremely not surprising",
            "some how not surprising",
            "neutral",
            "some how surprising",
            "extremely surprising",
        ),
    ),
    Question(
        "amb",
        "Amb",
        "Rate the ambiguity of the image. I find this image",
        ("extremely not ambiguous", "some how not ambiguous", "neutral", "some how ambiguous", "extremely ambiguous"),
    ),
    Question(
        "com",
        "Com",
        "Rate the complexity of the image. I find this image",
        ("extremely simple", "some how simple", "neutral", "somehow complex", "extremely complex"),
    ),
)
QUESTION_KEYS = tuple(q.key for q in QUESTIONS)
ANSWERS = range(1, 6)
INSTRUCTIONS = (
    "You will see a series of images. For each image, answer the five questions on a scale "
    "from 1 to 5. There are no right or wrong answers."
)
CHECK_KEY = "check"  # the form field of an attention-check page


def attention_question(instructed: int) -> Question:
    """An attention-check page's one question: it tells the rater which answer to give, on the first
    question's scale, so that a rater clicking without reading fails it."""
    label = QUESTIONS[0].scale[instructed - 1]
    text = f"Attention check: to show that you read each page, please choose {instructed} ({label}) here"
    return Question(CHECK_KEY, "Check", text, QUESTIONS[0].scale)
