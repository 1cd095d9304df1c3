"""The survey web app: one image per page with the study's five questions, every answer in SQLite.

    python -m clipcreate_lib.study.survey serve --profile tiny    # http://127.0.0.1:8765, the profile's kit
    python -m clipcreate_lib.study.survey export --profile tiny   # -> data/tiny/user_study/responses/survey.csv

A rater opens the address, enters a participant id and rates the kit's images in an order of their
own (``Study.order``: shuffled by kit and rater id), so that order effects average out over raters.
Closing the browser and coming back with the same id continues where they stopped. Each page's
answers are checked (all five questions, whole numbers 1 to 5) and committed to SQLite before the next
page is served. The table is append-only (triggers refuse UPDATE and DELETE) with one row per kit ×
rater × image × question, so a repeated submission (a double click, the back button) is ignored and
the first answer stands. Only the kit's images are served: a request names an image id, which is
looked up in the kit, never joined onto a path. The server is for a study run on this machine or a
trusted network; it has no login.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sqlite3
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd

from clipcreate_lib import artifacts, paths
from clipcreate_lib.study.kit import STUDY
from clipcreate_lib.study.pages import field, page, rating_page, welcome
from clipcreate_lib.study.questions import ANSWERS, QUESTIONS
from clipcreate_lib.study.responses import RESPONSE_COLUMNS

RATER = re.compile(r"[A-Za-z0-9_-]{1,64}")
RATER_RULE = "The participant id must be 1 to 64 letters, digits, '-' or '_'."
MAX_FORM_BYTES = 4096
SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    kit TEXT NOT NULL, rater TEXT NOT NULL, image TEXT NOT NULL, question TEXT NOT NULL,
    answer INTEGER NOT NULL CHECK (answer BETWEEN 1 AND 5), submitted_at TEXT NOT NULL,
    PRIMARY KEY (kit, rater, image, question)
);
CREATE TRIGGER IF NOT EXISTS answers_keep_updates BEFORE UPDATE ON answers
    BEGIN SELECT RAISE(ABORT, 'answers are append-only'); END;
CREATE TRIGGER IF NOT EXISTS answers_keep_deletes BEFORE DELETE ON answers
    BEGIN SELECT RAISE(ABORT, 'answers are append-only'); END;
"""


class InvalidAnswer(ValueError):
    """A submitted page that cannot be stored; its message is shown to the rater."""


@dataclass(frozen=True)
class Study:
    """A kit as the app serves it: its id, its images in order and each image's file."""

    kit: str
    images: tuple[str, ...]
    files: Mapping[str, Path]

    def order(self, rater: str) -> tuple[str, ...]:
        """The images in the order this rater sees them: the kit's images shuffled by a seed made of the
        kit id and the rater id, so each rater meets them in an order of their own (an image's place
        in the sequence does not fall on one model for everyone), the same order on every visit."""
        images = list(self.images)
        random.Random(f"{self.kit}/{rater}").shuffle(images)  # a str seed is hashed with SHA-512: stable
        return tuple(images)

    @classmethod
    def load(cls, kit_dir: Path) -> Study:
        study_file = Path(kit_dir) / STUDY
        if not study_file.exists():
            raise FileNotFoundError(
                f"No study kit at {kit_dir}; run notebook 06 first, which builds it from notebook 05's images."
            )
        study = json.loads(study_file.read_text())
        images = tuple(item["id"] for item in study["images"])
        files = {item["id"]: (Path(kit_dir) / item["file"]).resolve() for item in study["images"]}
        return cls(kit=study["kit"], images=images, files=files)


class AnswerStore:
    """Append-only answers in one SQLite file; a connection per call, so server threads never share one."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(SCHEMA)

    def record(self, kit: str, rater: str, image: str, answers: Mapping[str, int]) -> bool:
        """Store one page of answers in one transaction; False when this rater had already answered it."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._connect() as db:
            stored = db.executemany(
                "INSERT OR IGNORE INTO answers VALUES (?, ?, ?, ?, ?, ?)",
                [(kit, rater, image, q, a, now) for q, a in answers.items()],
            ).rowcount
        return stored > 0

    def answered(self, kit: str, rater: str) -> set[str]:
        """Images of ``kit`` this rater has answered."""
        with self._connect() as db:
            rows = db.execute("SELECT DISTINCT image FROM answers WHERE kit = ? AND rater = ?", (kit, rater))
            return {image for (image,) in rows}

    def table(self) -> pd.DataFrame:
        """Every answer, in the order stored, with the response files' columns."""
        with self._connect() as db:
            rows = db.execute(f"SELECT {', '.join(RESPONSE_COLUMNS)} FROM answers ORDER BY rowid").fetchall()
        return pd.DataFrame(rows, columns=RESPONSE_COLUMNS)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)


def validate(study: Study, form: Mapping[str, list[str]]) -> tuple[str, str, dict[str, int]]:
    """(rater, image, answers) of a submitted page, or InvalidAnswer saying in one sentence what is wrong."""
    rater = field(form, "rater")
    if not RATER.fullmatch(rater):
        raise InvalidAnswer(RATER_RULE)
    image = field(form, "image")
    if image not in study.files:
        raise InvalidAnswer(f"Image '{image}' is not part of this study.")
    answers = {}
    for q in QUESTIONS:
        value = field(form, q.key)
        if not value:
            raise InvalidAnswer(f"Please answer every question: '{q.text}' has no answer.")
        if value not in {str(a) for a in ANSWERS}:
            raise InvalidAnswer(f"The answer to '{q.text}' must be a whole number from 1 to 5, not '{value}'.")
        answers[q.key] = int(value)
    return rater, image, answers


def export_csv(store: AnswerStore, out: Path) -> Path:
    """All answers as a response CSV (written atomically), the input of Table II."""
    return artifacts.save_csv(out, store.table())


def make_server(study: Study, store: AnswerStore, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    """A server bound to ``host``:``port`` (0 picks a free port); call ``serve_forever`` to run it."""

    class Handler(_Pages):
        pass

    Handler.study, Handler.store = study, store
    return ThreadingHTTPServer((host, port), Handler)


class _Pages(BaseHTTPRequestHandler):
    study: Study
    store: AnswerStore
    timeout = 30  # seconds a connection may stall (a body shorter than its Content-Length) before it is closed

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/":
            self._page(HTTPStatus.OK, welcome())
        elif url.path == "/rate":
            rater = field(parse_qs(url.query), "rater")
            if not RATER.fullmatch(rater):
                self._page(HTTPStatus.BAD_REQUEST, welcome(RATER_RULE))
            else:
                self._next_page(rater)
        elif url.path.startswith("/images/") and url.path.endswith(".png"):
            file = self.study.files.get(url.path.removeprefix("/images/").removesuffix(".png"))
            if file is None:
                self._page(HTTPStatus.NOT_FOUND, page("Not found", "<p>No such image.</p>"))
            else:
                self._send(HTTPStatus.OK, "image/png", file.read_bytes())
        else:
            self._page(HTTPStatus.NOT_FOUND, page("Not found", "<p>No such page.</p>"))

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/answer":
            self._page(HTTPStatus.NOT_FOUND, page("Not found", "<p>No such page.</p>"))
            return
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit():  # "-1" would read to the end of the stream, "abc" would raise
            self._page(HTTPStatus.BAD_REQUEST, page("Bad request", "<p>The form has no valid length.</p>"))
            return
        length = int(length)
        if length > MAX_FORM_BYTES:
            self._page(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, page("Too large", "<p>The form is too large.</p>"))
            return
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"), keep_blank_values=True)
        try:
            rater, image, answers = validate(self.study, form)
        except InvalidAnswer as error:
            image = field(form, "image")
            rater = field(form, "rater")
            if image in self.study.files and RATER.fullmatch(rater):
                self._page(HTTPStatus.BAD_REQUEST, self._rating_page(rater, image, str(error), form))
            else:
                self._page(HTTPStatus.BAD_REQUEST, welcome(str(error)))
            return
        self.store.record(self.study.kit, rater, image, answers)  # committed before the redirect is sent
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", f"/rate?rater={rater}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _next_page(self, rater: str) -> None:
        done = self.store.answered(self.study.kit, rater)
        todo = [image for image in self.study.order(rater) if image not in done]
        if not todo:
            self._page(
                HTTPStatus.OK,
                page(
                    "Thank you",
                    f"<p>You have rated all {len(self.study.images)} images. "
                    f"Thank you for taking part; you can close this page.</p>",
                ),
            )
        else:
            self._page(HTTPStatus.OK, self._rating_page(rater, todo[0]))

    def _rating_page(self, rater: str, image: str, error: str = "", form: Mapping[str, list[str]] | None = None) -> str:
        return rating_page(self.study.order(rater).index(image) + 1, len(self.study.images), rater, image, error, form)

    def _page(self, status: HTTPStatus, text: str) -> None:
        self._send(status, "text/html; charset=utf-8", text.encode())

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        pass  # one line per request would drown the console; the database is the record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clipcreate_lib.study.survey", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the kit's survey on localhost")
    serve.add_argument("--kit", type=Path, help="study kit folder (default: the profile's, from notebook 06)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    serve.add_argument("--port", type=int, default=8765)
    export = commands.add_parser("export", help="write every answer to a response CSV")
    export.add_argument("--out", type=Path, help="response CSV (default: the profile's responses/survey.csv)")
    for command in (serve, export):
        command.add_argument("--profile", default="tiny", help="whose data/<profile>/user_study/ to use (tiny)")
        command.add_argument("--db", type=Path, help="SQLite file of the answers (default: the profile's)")
    args = parser.parse_args(argv)
    paths.use_profile(args.profile)
    args.db = args.db or paths.survey_db()
    if args.command == "export":
        if not args.db.exists():
            parser.error(f"no answers database at {args.db}")
        store = AnswerStore(args.db)
        print(f"{len(store.table())} answers -> {export_csv(store, args.out or paths.responses_dir() / 'survey.csv')}")
        return 0
    args.kit = args.kit or paths.study_kit_dir()
    try:
        study = Study.load(args.kit)
    except FileNotFoundError as error:
        parser.error(str(error))
    server = make_server(study, AnswerStore(args.db), args.host, args.port)
    print(
        f"Survey of kit {study.kit} ({len(study.images)} images) at http://{args.host}:{server.server_port}/ ; "
        f"answers -> {args.db}. Ctrl-C stops it."
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
