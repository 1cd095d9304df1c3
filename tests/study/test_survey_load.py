"""Many raters at once against the real server, killed with SIGKILL mid-load and restarted: every
rater completes the kit, and every answer the server acknowledged (a 303 after POST /answer) is
stored exactly once, those acknowledged before the kill included."""

import http.client
import re
import sqlite3
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from study_fixtures import answer_form, build, free_port, server_log, start_server

from clipcreate_lib.study import pages

RATERS = 24
KILL_AFTER = 60  # acknowledged pages before the SIGKILL (of 24 x 11)
PAGE_FIELD = re.compile(r'name="image" value="([^"]+)"')


def _request(port: int, method: str, path: str, deadline: float, form: dict | None = None) -> tuple[int, str]:
    """(status, body) of one request, retried on a new connection until the server answers (it may be
    down for a restart) or ``deadline`` passes. A retried POST may already have been stored: the
    store then ignores it, which is what this test checks."""
    body = urllib.parse.urlencode(form) if form else None
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if form else {}
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.request(method, path, body, headers)
            response = connection.getresponse()
            return response.status, response.read().decode()
        except (OSError, http.client.HTTPException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        finally:
            connection.close()


def _rate_everything(port: int, rater: str, acks: list, deadline: float) -> list[int]:
    """Agree, then answer each page the server shows until the completion code; returns the statuses."""
    statuses = [_request(port, "POST", "/consent", deadline, {"consent": "yes", "PROLIFIC_PID": rater})[0]]
    while True:
        status, body = _request(port, "GET", f"/rate?rater={rater}", deadline)
        statuses.append(status)
        page = PAGE_FIELD.search(body)
        if page is None:
            assert 'id="completion-code"' in body, body
            return statuses
        status, _ = _request(port, "POST", "/answer", deadline, answer_form(rater, page[1]))
        statuses.append(status)
        if status == 303:
            acks.append((rater, page[1]))


def _stored(db) -> set[tuple[str, str]]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT rater, image FROM answers UNION ALL SELECT rater, page FROM checks")
        return set(rows)


def test_raters_at_once_through_a_sigkill_and_a_restart_lose_no_acknowledged_answer(tmp_path):
    build(tmp_path)
    study, port, db = pages.Study.load(tmp_path / "kit"), free_port(), tmp_path / "survey.sqlite"
    server = start_server(tmp_path, port)
    acks: list[tuple[str, str]] = []
    deadline = time.monotonic() + 300  # a bound for a stuck run only: it takes some 10 s
    with ThreadPoolExecutor(RATERS) as pool:
        raters = [pool.submit(_rate_everything, port, f"load-{r:02d}", acks, deadline) for r in range(RATERS)]
        while len(acks) < KILL_AFTER and time.monotonic() < deadline:
            time.sleep(0.01)
        server.kill()  # SIGKILL: no clean-up, no flush
        server.wait(timeout=30)
        acknowledged = list(acks)  # all answered by the process now dead
        assert len(acknowledged) >= KILL_AFTER and set(acknowledged) <= _stored(db)
        server = start_server(tmp_path, port)
        statuses = [status for rater in raters for status in rater.result()]
    server.terminate()
    server.wait(timeout=30)
    assert set(statuses) <= {200, 303}
    assert len(acks) >= RATERS * 11  # retried pages are acknowledged again
    with sqlite3.connect(db) as connection:
        per_page = connection.execute(
            "SELECT COUNT(*) FROM answers GROUP BY rater, image "
            "UNION ALL SELECT COUNT(*) FROM checks GROUP BY rater, page"
        ).fetchall()
    assert len(per_page) == RATERS * 11 and {n for (n,) in per_page} == {5, 1}  # each page once: 5 answers, 1 check
    assert _stored(db) == {(f"load-{r:02d}", p) for r in range(RATERS) for p in study.pages(f"load-{r:02d}")}
    assert set(acks) == _stored(db)
    assert "Traceback" not in server_log(tmp_path)
