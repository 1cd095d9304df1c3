"""The survey's HTML: every page it serves, with the study's text escaped; no logic beyond layout."""

from __future__ import annotations

import html
from collections.abc import Mapping

from clipcreate_lib.study.questions import ANSWERS, INSTRUCTIONS, QUESTIONS


def field(form: Mapping[str, list[str]], name: str) -> str:
    """The first value of form field ``name``, stripped ("" when absent)."""
    values = form.get(name) or [""]
    return values[0].strip()


def welcome(error: str = "") -> str:
    """The first page: the instructions and the participant id to start with."""
    alert = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return page(
        "Image study",
        f"{alert}<p>{html.escape(INSTRUCTIONS)}</p>"
        f'<form method="get" action="/rate"><label>Participant id '
        f'<input name="rater" required pattern="[A-Za-z0-9_\\-]{{1,64}}"></label>'
        f'<button type="submit">Start</button></form>',
    )


def page(title: str, body: str) -> str:
    """A whole HTML page around ``body`` (already escaped), with the study's small style sheet."""
    style = (
        "body{font-family:sans-serif;max-width:46em;margin:2em auto;padding:0 1em}"
        "img{width:384px;max-width:100%;image-rendering:pixelated;display:block;margin:1em 0}"
        "fieldset{margin:.8em 0}label{display:block}.error{color:#b00;font-weight:bold}"
    )
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def rating_page(
    position: int, total: int, rater: str, image: str, error: str = "", form: Mapping[str, list[str]] | None = None
) -> str:
    """Image ``position`` of ``total`` with the five questions; ``error`` and the answers of a refused
    ``form`` are shown again."""
    form = form or {}
    fieldsets = []
    for number, q in enumerate(QUESTIONS, 1):
        chosen = field(form, q.key)
        options = "".join(
            f'<label><input type="radio" name="{q.key}" value="{a}"{" checked" if chosen == str(a) else ""}>'
            f" {a} – {html.escape(label)}</label>"
            for a, label in zip(ANSWERS, q.scale)
        )
        fieldsets.append(
            f'<fieldset id="{q.key}"><legend>{number}. {html.escape(q.text)}:</legend>{options}</fieldset>'
        )
    alert = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    body = (
        f"{alert}<p>Image {position} of {total}</p>"
        f'<img src="/images/{image}.png" alt="image {position}">'
        f'<form method="post" action="/answer"><input type="hidden" name="rater" value="{rater}">'
        f'<input type="hidden" name="image" value="{image}">{"".join(fieldsets)}'
        f'<button type="submit">Next</button></form>'
    )
    return page(f"Image {position} of {total}", body)
