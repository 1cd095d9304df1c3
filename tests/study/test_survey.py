"""The survey without sockets: validation, the append-only store, idempotent repeats, each rater's own
order, consent before any page, platform ids from the URL, attention checks, the completion code, the
admin export, ``survey status`` and the CSV export (the Flask app through its test client)."""

import os
import sqlite3
import subprocess
import sys

import pandas as pd
import pytest
from study_fixtures import ADMIN_TOKEN, answer_form, build

from clipcreate_lib.study import app, pages, questions, responses, server, store, survey, table2


@pytest.fixture
def study(tmp_path):
    _, _, key = build(tmp_path, completion_code="C0DE42", completion_url="https://example.org/done?cc=C0DE42")
    return pages.Study.load(tmp_path / "kit"), key


@pytest.fixture
def client(tmp_path, study):
    study, key = study
    answers = store.AnswerStore(tmp_path / "survey.sqlite")
    return app.create_app(study, answers, ADMIN_TOKEN).test_client(), study, answers, key


def _agree(client, **platform):
    response = client.post("/consent", data={"consent": "yes", **platform})
    assert response.status_code == 303, response.data
    return response.headers["Location"].rpartition("rater=")[2]


def _form(rater="p1", image=None, **answers):
    answers = {"app": "3", "nov": "4", "sur": "2", "amb": "5", "com": "1", **answers}
    return {"rater": rater, "image": image, **{q: a for q, a in answers.items() if a is not None}}


def test_a_complete_page_validates(study):
    study, key = study
    rater, image, answers = pages.validate(study, _form(image=key["image"][0]))
    assert (rater, image) == ("p1", key["image"][0])
    assert answers == {"app": 3, "nov": 4, "sur": 2, "amb": 5, "com": 1}
    assert pages.validate(study, {"rater": "p1", "image": "check-2", "check": "4"})[2] == {"check": 4}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"nov": None}, "Please answer every question: 'Rate the novelty of the image' has no answer."),
        ({"com": ""}, "has no answer"),
        ({"app": "6"}, "must be a whole number from 1 to 5, not '6'"),
        ({"sur": "0"}, "not '0'"),
        ({"amb": "2.5"}, "not '2.5'"),
        ({"app": "three"}, "not 'three'"),
        ({"app": "²"}, "not '²'"),  # str.isdigit() says yes, int() says no
        ({"rater": "../x"}, "participant id must be"),
        ({"rater": ""}, "participant id must be"),
        ({"rater": "pé"}, "participant id must be"),
        ({"image": "deadbeef"}, "Image 'deadbeef' is not part of this study."),
    ],
)
def test_out_of_range_or_missing_answers_are_refused_with_a_message(study, change, message):
    study, key = study
    form = _form(image=key["image"][0])
    for name, value in change.items():
        form[name] = value
        if value is None:
            del form[name]
    with pytest.raises(pages.InvalidAnswer, match=message.replace("(", r"\(").replace(".", r"\.")):
        pages.validate(study, form)


def test_a_repeated_submission_is_ignored_and_the_first_answer_stands(tmp_path):
    answers = store.AnswerStore(tmp_path / "a.sqlite")
    assert answers.record("k", "p1", "img", {"app": 3, "nov": 4}) is True
    assert answers.record("k", "p1", "img", {"app": 3, "nov": 4}) is False
    assert answers.record("k", "p1", "img", {"app": 1, "nov": 1}) is False  # the back button, other answers
    assert answers.record("k", "p2", "img", {"app": 5, "nov": 5}) is True
    assert answers.record_check("k", "p1", "check-1", 2, 2) is True
    assert answers.record_check("k", "p1", "check-1", 2, 5) is False
    table = answers.table()
    assert len(table) == 4 and list(table.columns) == [*responses.RESPONSE_COLUMNS, "seconds"]
    assert list(table.loc[table["rater"] == "p1", "answer"]) == [3, 4]
    assert answers.table("checks")["answer"].tolist() == [2]
    assert answers.answered("k", "p1") == {"img", "check-1"} and answers.answered("other-kit", "p1") == set()


def test_every_table_is_append_only(tmp_path):
    answers = store.AnswerStore(tmp_path / "a.sqlite")
    answers.consent("k", "p1", False, {"STUDY_ID": "s"})
    answers.record("k", "p1", "img", {"app": 3})
    answers.record_check("k", "p1", "check-1", 2, 2)
    db = sqlite3.connect(tmp_path / "a.sqlite")
    for table in ("answers", "checks", "raters"):
        for statement in (f"UPDATE {table} SET kit = 'x'", f"DELETE FROM {table}"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(statement)
    with pytest.raises(sqlite3.IntegrityError):  # the CHECK constraint, should validation ever be bypassed
        db.execute("INSERT INTO answers VALUES ('k', 'p1', 'img2', 'app', 9, 'now', 1.0)")
    assert answers.table()["answer"].tolist() == [3]


def test_a_database_of_the_older_survey_is_refused_and_left_as_it_was(tmp_path):
    with sqlite3.connect(tmp_path / "old.sqlite") as db:
        db.execute("CREATE TABLE answers (kit, rater, image, question, answer, submitted_at)")
    before = (tmp_path / "old.sqlite").read_bytes()
    with pytest.raises(ValueError, match="written by an older survey"):
        store.AnswerStore(tmp_path / "old.sqlite")
    assert (tmp_path / "old.sqlite").read_bytes() == before


def test_each_page_stores_the_seconds_since_the_raters_previous_one(tmp_path):
    answers = store.AnswerStore(tmp_path / "a.sqlite")
    answers.record("k", "p0", "img", {"app": 3})  # no consent and no earlier page: no time to count from
    answers.consent("k", "p1", True, {})
    answers.record("k", "p1", "img", {"app": 3, "nov": 2})
    answers.record_check("k", "p1", "check-1", 2, 2)
    table, checks, raters = answers.table(), answers.table("checks"), answers.table("raters")
    times = pd.to_datetime(pd.concat([raters["consented_at"], table["submitted_at"][1:2], checks["submitted_at"]]))
    assert pd.isna(table["seconds"][0]) and table["seconds"][1] == table["seconds"][2]
    assert [table["seconds"][1], checks["seconds"][0]] == pytest.approx(times.diff().dt.total_seconds()[1:], abs=1e-3)


def test_each_rater_has_an_order_of_their_own_kept_across_visits(tmp_path, study):
    study, _ = study
    orders = {rater: study.order(rater) for rater in [f"p{i}" for i in range(200)]}
    assert all(sorted(order) == sorted(study.images) for order in orders.values())
    assert len(set(orders.values())) == 200  # 9! orders: a repeat among 200 raters is all but impossible
    assert {order[0] for order in orders.values()} == set(study.images)  # every image is someone's first
    assert study.pages("p7") == (*orders["p7"][:3], "check-1", *orders["p7"][3:6], "check-2", *orders["p7"][6:])
    code = (
        "import sys; from clipcreate_lib.study import pages; print(' '.join(pages.Study.load(sys.argv[1]).order('p7')))"
    )
    for hash_seed in ("1", "2"):  # a restarted server, whose str hashes differ, shows the same order
        shown = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "kit")],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        ).stdout.split()
        assert tuple(shown) == orders["p7"]


def test_consent_comes_before_any_page_and_nothing_is_stored_without_it(client):
    client, study, answers, _ = client
    page = study.pages("p1")[0]
    for response in (
        client.get("/rate?rater=p1"),
        client.get("/instructions?rater=p1"),
        client.post("/answer", data=answer_form("p1", page)),
    ):
        assert response.status_code == 303 and response.headers["Location"] == "/"
    response = client.get("/")
    assert response.status_code == 200 and study.consent.encode() in response.data
    assert client.post("/consent", data={"PROLIFIC_PID": "p1"}).status_code == 400  # the box not ticked
    assert answers.table().empty and answers.table("raters").empty


def test_the_participant_id_comes_from_the_platforms_url_or_the_server(client):
    client, study, answers, _ = client
    page = client.get("/?PROLIFIC_PID=5f1a2b&STUDY_ID=st-9&SESSION_ID=se-3&other=x").data.decode()
    for name, value in (("PROLIFIC_PID", "5f1a2b"), ("STUDY_ID", "st-9"), ("SESSION_ID", "se-3")):
        assert f'name="{name}" value="{value}"' in page
    assert "other" not in page and 'name="rater"' not in page  # no id to type
    assert _agree(client, PROLIFIC_PID="5f1a2b", STUDY_ID="st-9", SESSION_ID="se-3") == "5f1a2b"
    assigned = {_agree(client), _agree(client)}  # no platform id: a random one each
    assert len(assigned) == 2 and all(pages.RATER.fullmatch(r) and len(r) == 16 for r in assigned)
    raters = answers.table("raters").set_index("rater")
    assert raters.loc["5f1a2b", "platform"] == '{"PROLIFIC_PID": "5f1a2b", "SESSION_ID": "se-3", "STUDY_ID": "st-9"}'
    assert list(raters["assigned"]) == [0, 1, 1]
    response = client.post("/consent", data={"consent": "yes", "PROLIFIC_PID": "<b>x</b>"})
    assert response.status_code == 400 and b"PROLIFIC_PID is not valid" in response.data
    assert b"<b>x" not in client.get("/?PROLIFIC_PID=<b>x</b>").data  # autoescaped


def test_a_rater_goes_through_every_page_with_progress_then_gets_the_completion_code(client):
    client, study, answers, _ = client
    rater = _agree(client, PROLIFIC_PID="r1")
    assert b"There are 11 pages" in client.get(f"/instructions?rater={rater}").data
    for position, page in enumerate(study.pages(rater), 1):
        shown = client.get(f"/rate?rater={rater}").data.decode()
        assert f"<h1>Page {position} of 11</h1>" in shown and f'value="{position - 1}" max="11"' in shown
        assert f'name="image" value="{page}"' in shown
        assert ("please choose" in shown) == page.startswith("check-")
        response = client.post("/answer", data=answer_form(rater, page))
        assert response.status_code == 303 and response.headers["Location"] == f"/rate?rater={rater}"
        assert page in answers.answered(study.kit, rater)  # committed before the redirect is sent
    done = client.get(f"/rate?rater={rater}").data.decode()
    assert '<strong id="completion-code">C0DE42</strong>' in done
    assert 'content="10; url=https://example.org/done?cc=C0DE42"' in done
    assert len(answers.table()) == 9 * 5 and answers.table("checks")["instructed"].tolist() == [2, 4]


def test_an_invalid_page_is_shown_again_with_the_message_and_nothing_stored(client):
    client, study, answers, _ = client
    rater = _agree(client, PROLIFIC_PID="p1")
    image = study.pages(rater)[0]
    response = client.post("/answer", data={"rater": rater, "image": image, "app": "9", "nov": "4"})
    assert response.status_code == 400 and b"must be a whole number from 1 to 5, not &#39;9&#39;" in response.data
    assert f"/images/{image}.png".encode() in response.data and b'value="4" checked' in response.data
    response = client.post("/answer", data={"rater": rater, "image": "nope"})
    assert response.status_code == 400 and b"is not part of this study" in response.data
    assert client.get("/rate?rater=<script>").status_code == 400
    assert answers.table().empty


def test_the_admin_export_needs_the_token(client):
    client, study, answers, _ = client
    rater = _agree(client, PROLIFIC_PID="p1")
    client.post("/answer", data=answer_form(rater, study.pages(rater)[0]))
    assert client.get("/admin/answers.csv").status_code == 403
    assert client.get("/admin/answers.csv?token=wrong").status_code == 403
    response = client.get("/admin/answers.csv", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.data.decode() == answers.table().to_csv(index=False)
    assert client.get(f"/admin/raters.csv?token={ADMIN_TOKEN}").data.decode().count("\n") == 2
    assert client.get(f"/admin/secrets.csv?token={ADMIN_TOKEN}").status_code == 404


def test_export_and_status_report_answers_checks_and_raters(tmp_path, study, capsys):
    study, key = study
    answers = store.AnswerStore(tmp_path / "survey.sqlite")
    for rater in ("p1", "p2"):
        answers.consent(study.kit, rater, False, {})
    for page in study.pages("p1"):
        if page in study.files:
            answers.record(study.kit, "p1", page, {q: 2 for q in questions.QUESTION_KEYS})
        else:
            answers.record_check(study.kit, "p1", page, study.check(page).instructed, 1)
    answers.record(study.kit, "p2", study.images[0], {q: 4 for q in questions.QUESTION_KEYS})
    out, checks = tmp_path / "responses" / "survey.csv", tmp_path / "attention" / "survey.csv"
    db = ["--db", str(tmp_path / "survey.sqlite")]
    assert survey.main(["export", *db, "--out", str(out), "--checks", str(checks)]) == 0
    read = responses.read_responses([out])
    assert len(read) == 50 and set(read["kit"]) == {study.kit}
    assert responses.excluded_raters(responses.read_checks([checks]), 1) == ["p1"]  # failed both checks
    assert table2.table2(read, key, list(key["model"].unique()), 0.95)["app_n"].sum() == 10
    kit_args = ["--kit", str(tmp_path / "kit"), "--key", str(tmp_path / "key" / "key.csv")]
    assert survey.main(["status", *db, *kit_args]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "2 raters started, 1 finished all 11 pages (9 images, 2 attention checks)" in lines[-4]
    assert sum(line.startswith("  ") for line in lines) == 3  # one line per model
    first = key.set_index("image").loc[study.images[0], "model"]
    assert f"  {first}: 20 answers (4 images rated) from 2 raters" in lines


def test_only_loopback_counts_as_local_so_other_hosts_get_the_tls_warning():
    assert all(server.is_local(host) for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"))
    assert not any(server.is_local(host) for host in ("0.0.0.0", "::", "192.168.1.5", "example.org"))
    assert "reverse proxy with TLS" in survey.PUBLIC_WARNING
