"""The survey app without a browser: validation, the append-only store, idempotent repeats, what the
server will and will not serve, each rater's own order, and the CSV export."""

import os
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

import pandas as pd
import pytest
from study_fixtures import build

from clipcreate_lib.study import questions, responses, survey, table2


@pytest.fixture
def study(tmp_path):
    _, _, key = build(tmp_path)
    return survey.Study.load(tmp_path / "kit"), key


def _form(rater="p1", image=None, **answers):
    answers = {"app": "3", "nov": "4", "sur": "2", "amb": "5", "com": "1", **answers}
    return {"rater": [rater], "image": [image], **{q: [a] for q, a in answers.items() if a is not None}}


def test_a_complete_page_validates(study):
    study, key = study
    rater, image, answers = survey.validate(study, _form(image=key["image"][0]))
    assert (rater, image) == ("p1", key["image"][0])
    assert answers == {"app": 3, "nov": 4, "sur": 2, "amb": 5, "com": 1}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"nov": None}, "Please answer every question: 'Rate the novelty of the image' has no answer."),
        ({"com": ""}, "has no answer"),
        ({"app": "6"}, "must be a whole number from 1 to 5, not '6'"),
        ({"sur": "0"}, "not '0'"),
        ({"amb": "2.5"}, "not '2.5'"),
        ({"app": "three"}, "not 'three'"),
        ({"rater": "../x"}, "participant id must be"),
        ({"rater": ""}, "participant id must be"),
        ({"image": "deadbeef"}, "Image 'deadbeef' is not part of this study."),
    ],
)
def test_out_of_range_or_missing_answers_are_refused_with_a_message(study, change, message):
    study, key = study
    form = _form(image=key["image"][0])
    for name, value in change.items():
        form[name] = [value] if value is not None else []
    with pytest.raises(survey.InvalidAnswer, match=message.replace("(", r"\(").replace(".", r"\.")):
        survey.validate(study, form)


def test_a_repeated_submission_is_ignored_and_the_first_answer_stands(tmp_path):
    store = survey.AnswerStore(tmp_path / "a.sqlite")
    assert store.record("k", "p1", "img", {"app": 3, "nov": 4}) is True
    assert store.record("k", "p1", "img", {"app": 3, "nov": 4}) is False
    assert store.record("k", "p1", "img", {"app": 1, "nov": 1}) is False  # the back button, other answers
    assert store.record("k", "p2", "img", {"app": 5, "nov": 5}) is True
    table = store.table()
    assert len(table) == 4 and list(table.columns) == responses.RESPONSE_COLUMNS
    assert list(table.loc[table["rater"] == "p1", "answer"]) == [3, 4]
    assert store.answered("k", "p1") == {"img"} and store.answered("other-kit", "p1") == set()


def test_the_store_is_append_only(tmp_path):
    store = survey.AnswerStore(tmp_path / "a.sqlite")
    store.record("k", "p1", "img", {"app": 3})
    db = sqlite3.connect(tmp_path / "a.sqlite")
    for statement in ("UPDATE answers SET answer = 1", "DELETE FROM answers"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(statement)
    with pytest.raises(sqlite3.IntegrityError):  # the CHECK constraint, should validation ever be bypassed
        db.execute("INSERT INTO answers VALUES ('k', 'p1', 'img2', 'app', 9, 'now')")
    assert store.table()["answer"].tolist() == [3]


@pytest.fixture
def server(tmp_path, study):
    study, key = study
    store = survey.AnswerStore(tmp_path / "survey.sqlite")
    httpd = survey.make_server(study, store, port=0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", study, store, key
    httpd.shutdown()
    httpd.server_close()


def _get(url):
    try:
        with urllib.request.urlopen(url) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _post(url, form):
    data = urllib.parse.urlencode(form).encode()
    try:
        with urllib.request.build_opener(_NoRedirect).open(url, data) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_only_the_studys_images_are_served(server, tmp_path):
    base, study, _, key = server
    (tmp_path / "secret.png").write_bytes(b"secret")
    status, body = _get(f"{base}/images/{key['image'][0]}.png")
    assert status == 200 and body == (tmp_path / "kit" / "images" / f"{key['image'][0]}.png").read_bytes()
    for path in [
        "/images/../key/key.csv",
        "/images/..%2Fsecret.png",
        "/images/%2e%2e/%2e%2e/secret.png",
        "/images/..%2F..%2Fkey%2Fkey.csv",
        "/../secret.png",
        "/kit/study.json",
        "/images/study.json",
        f"/images/{key['image'][0]}.png/../../secret.png",
        "/images/",
        "/survey.sqlite",
        "/etc/passwd",
    ]:
        status, body = _get(base + path)
        assert status == 404 and b"secret" not in body, path


def test_a_page_is_committed_before_the_next_is_served(server):
    base, study, store, key = server
    first, second = study.order("p1")[:2]
    status, body = _get(f"{base}/rate?rater=p1")
    assert status == 200 and f"/images/{first}.png".encode() in body and b"Image 1 of 9" in body
    status, headers, _ = _post(
        f"{base}/answer", {"rater": "p1", "image": first, "app": 4, "nov": 4, "sur": 4, "amb": 4, "com": 4}
    )
    assert status == 303 and headers["Location"] == "/rate?rater=p1"
    assert len(store.table()) == 5  # in SQLite by the time the redirect arrives
    status, body = _get(f"{base}/rate?rater=p1")
    assert f"/images/{second}.png".encode() in body and b"Image 2 of 9" in body
    status, _, _ = _post(
        f"{base}/answer", {"rater": "p1", "image": first, "app": 1, "nov": 1, "sur": 1, "amb": 1, "com": 1}
    )
    assert status == 303 and store.table()["answer"].tolist() == [4] * 5  # repeat ignored


def test_each_rater_has_an_order_of_their_own_kept_across_visits(tmp_path, study):
    study, _ = study
    orders = {rater: study.order(rater) for rater in [f"p{i}" for i in range(200)]}
    assert all(sorted(order) == sorted(study.images) for order in orders.values())
    assert len(set(orders.values())) == 200  # 9! orders: a repeat among 200 raters is all but impossible
    assert {order[0] for order in orders.values()} == set(study.images)  # every image is someone's first
    code = (
        "import sys; from clipcreate_lib.study import survey; "
        "print(' '.join(survey.Study.load(sys.argv[1]).order('p7')))"
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


def test_a_form_length_that_is_not_a_count_is_refused(server):
    import http.client

    base, _, store, _ = server
    host, port = base.removeprefix("http://").split(":")
    for length in ("-1", "abc"):  # "-1" read to the end of the stream; "abc" raised and sent nothing
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.putrequest("POST", "/answer")
        connection.putheader("Content-Length", length)
        connection.endheaders(b"rater=p1&image=x")
        assert connection.getresponse().status == 400, length
        connection.close()
    assert store.table().empty


def test_an_invalid_page_is_shown_again_with_the_message_and_nothing_stored(server):
    base, study, store, _ = server
    status, _, body = _post(f"{base}/answer", {"rater": "p1", "image": study.images[0], "app": 9, "nov": 4})
    assert status == 400 and b"must be a whole number from 1 to 5, not &#x27;9&#x27;" in body
    assert f"/images/{study.images[0]}.png".encode() in body and b'value="4" checked' in body
    status, _, body = _post(f"{base}/answer", {"rater": "p 1", "image": study.images[0]})
    assert status == 400 and b"participant id must be" in body
    assert _get(f"{base}/rate?rater=<script>")[0] == 400
    assert store.table().empty


def test_a_rater_who_has_rated_everything_is_thanked(server):
    base, study, store, _ = server
    for image in study.images:
        store.record(study.kit, "p9", image, {q: 3 for q in questions.QUESTION_KEYS})
    status, body = _get(f"{base}/rate?rater=p9")
    assert status == 200 and b"You have rated all 9 images" in body


def test_export_writes_every_answer_as_a_response_csv(tmp_path, study):
    study, key = study
    store = survey.AnswerStore(tmp_path / "survey.sqlite")
    store.record(study.kit, "p1", study.images[0], {q: 2 for q in questions.QUESTION_KEYS})
    out = tmp_path / "responses" / "survey.csv"
    assert survey.main(["export", "--db", str(tmp_path / "survey.sqlite"), "--out", str(out)]) == 0
    answers = responses.read_responses([out])
    assert len(answers) == 5 and set(answers["kit"]) == {study.kit}
    table = table2.table2(answers, key, list(key["model"].unique()), 0.95)
    assert table["app_n"].sum() == 1 and pd.notna(table["app"]).sum() == 1
