"""The survey's SQLite file: who consented, their answers and their attention checks, all append-only.

Every table refuses UPDATE and DELETE (triggers) and keys each row by kit, rater and page, so a
repeated submission (a double click, the back button, a retry after a lost reply) is ignored and the
first answer stands. Each thread keeps a connection of its own, so the server's threads never share
one. The file is in WAL mode with ``synchronous = FULL``: a commit is one append to the log, synced
before it returns, and readers never wait for a writer. A page is committed before the server
answers it, so an acknowledged answer survives a killed server (SQLite replays the log on the next
open; copy survey.sqlite with its -wal file, or use ``survey export``).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from clipcreate_lib.study.responses import CHECK_COLUMNS, RESPONSE_COLUMNS

RATER_COLUMNS = ["kit", "rater", "assigned", "platform", "consented_at"]
TABLES = {  # each table's columns after its key, as exported
    "answers": [*RESPONSE_COLUMNS, "seconds"],
    "checks": [*CHECK_COLUMNS, "seconds"],
    "raters": RATER_COLUMNS,
}
SCHEMA = """
CREATE TABLE IF NOT EXISTS raters (
    kit TEXT NOT NULL, rater TEXT NOT NULL, assigned INTEGER NOT NULL, platform TEXT NOT NULL,
    consented_at TEXT NOT NULL, PRIMARY KEY (kit, rater)
);
CREATE TABLE IF NOT EXISTS answers (
    kit TEXT NOT NULL, rater TEXT NOT NULL, image TEXT NOT NULL, question TEXT NOT NULL,
    answer INTEGER NOT NULL CHECK (answer BETWEEN 1 AND 5), submitted_at TEXT NOT NULL, seconds REAL,
    PRIMARY KEY (kit, rater, image, question)
);
CREATE TABLE IF NOT EXISTS checks (
    kit TEXT NOT NULL, rater TEXT NOT NULL, page TEXT NOT NULL,
    instructed INTEGER NOT NULL CHECK (instructed BETWEEN 1 AND 5),
    answer INTEGER NOT NULL CHECK (answer BETWEEN 1 AND 5), submitted_at TEXT NOT NULL, seconds REAL,
    PRIMARY KEY (kit, rater, page)
);
"""
APPEND_ONLY = """
CREATE TRIGGER IF NOT EXISTS {table}_keep_updates BEFORE UPDATE ON {table}
    BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END;
CREATE TRIGGER IF NOT EXISTS {table}_keep_deletes BEFORE DELETE ON {table}
    BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END;
"""
LAST_TIME = """
SELECT MAX(t) FROM (
    SELECT MAX(submitted_at) AS t FROM answers WHERE kit = :kit AND rater = :rater
    UNION ALL SELECT MAX(submitted_at) FROM checks WHERE kit = :kit AND rater = :rater
    UNION ALL SELECT consented_at FROM raters WHERE kit = :kit AND rater = :rater
)
"""


class AnswerStore:
    """Consents, answers and attention checks of a survey in one SQLite file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()  # a connection per thread, kept: threads never share one
        with self._connect() as db:
            columns = {row[1] for row in db.execute("PRAGMA table_info(answers)")}
            if not columns or "seconds" in columns:  # a new file, or one of this schema: complete it
                db.executescript(SCHEMA + "".join(APPEND_ONLY.format(table=table) for table in TABLES))
                db.execute("PRAGMA journal_mode = WAL")  # a commit is one append; readers never wait for it
        if columns and "seconds" not in columns:  # left as it was
            raise ValueError(
                f"{self.path} was written by an older survey (its answers have no response times); export "
                f"it with that version and move it away, or serve this kit with another --db."
            )

    def consent(self, kit: str, rater: str, assigned: bool, platform: Mapping[str, str]) -> None:
        """Record that ``rater`` agreed (the first time counts), with the platform's ids of the visit."""
        with self._connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO raters VALUES (?, ?, ?, ?, ?)",
                (kit, rater, int(assigned), json.dumps(dict(platform), sort_keys=True), _now()),
            )

    def consented(self, kit: str, rater: str) -> bool:
        with self._connect() as db:
            return db.execute("SELECT 1 FROM raters WHERE kit = ? AND rater = ?", (kit, rater)).fetchone() is not None

    def record(self, kit: str, rater: str, image: str, answers: Mapping[str, int]) -> bool:
        """Store one image's answers in one transaction; False when this rater had already answered it.
        ``seconds``: the time since this rater's previous page (or consent) was stored."""
        with self._transaction(kit, rater) as (db, now, seconds):
            stored = db.executemany(
                "INSERT OR IGNORE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(kit, rater, image, q, a, now, seconds) for q, a in answers.items()],
            ).rowcount
        return stored > 0

    def record_check(self, kit: str, rater: str, page: str, instructed: int, answer: int) -> bool:
        """Store one attention check's answer; False when this rater had already answered it."""
        with self._transaction(kit, rater) as (db, now, seconds):
            row = (kit, rater, page, instructed, answer, now, seconds)
            return db.execute("INSERT OR IGNORE INTO checks VALUES (?, ?, ?, ?, ?, ?, ?)", row).rowcount > 0

    def answered(self, kit: str, rater: str) -> set[str]:
        """Pages of ``kit`` (images and attention checks) this rater has answered."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT image FROM answers WHERE kit = ?1 AND rater = ?2 "
                "UNION SELECT page FROM checks WHERE kit = ?1 AND rater = ?2",
                (kit, rater),
            )
            return {page for (page,) in rows}

    def table(self, name: str = "answers") -> pd.DataFrame:
        """Every row of table ``name`` (answers, checks or raters) in the order stored, as exported."""
        columns = TABLES[name]
        with self._connect() as db:
            rows = db.execute(f"SELECT {', '.join(columns)} FROM {name} ORDER BY rowid").fetchall()
        return pd.DataFrame(rows, columns=columns)

    @contextlib.contextmanager
    def _transaction(self, kit: str, rater: str) -> Iterator[tuple[sqlite3.Connection, str, float | None]]:
        """A write transaction, the time it is stamped with, and the seconds since the rater's last row."""
        now = _now()
        with self._connect() as db:
            last = db.execute(LAST_TIME, {"kit": kit, "rater": rater}).fetchone()[0]
            seconds = None if last is None else _seconds_between(last, now)
            yield db, now, seconds

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, whose statements commit together when the block ends (or roll back)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite3.connect(self.path, timeout=30)
            db.execute("PRAGMA synchronous = FULL")  # each commit on disk before it returns
        with db:
            yield db


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")  # same width throughout: sorts as text


def _seconds_between(earlier: str, later: str) -> float:
    return round((datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds(), 3)
