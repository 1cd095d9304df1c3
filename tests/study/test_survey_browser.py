"""A real headless browser (Debian's Chromium, driven by Playwright) goes through the survey behind
waitress: consent, the instructions, two images, an attention check and the completion code; the
answers are then read back from SQLite. ./run_tests.sh installs Chromium; this
test fails rather than skips without it."""

import threading
from pathlib import Path

import pytest
from study_fixtures import ADMIN_TOKEN, build

from clipcreate_lib.study import pages, store
from clipcreate_lib.study.app import create_app
from clipcreate_lib.study.questions import QUESTION_KEYS
from clipcreate_lib.study.server import make_server

CHROMIUM = Path("/usr/bin/chromium")
# Headless as root, and no calls home: this machine's network is closed, and Chromium's background
# services would otherwise retry their connections throughout the test.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def served(tmp_path):
    """The survey behind waitress in a thread of this process, on a free port."""
    build(tmp_path, completion_code="BROWSER-DONE")
    study = pages.Study.load(tmp_path / "kit")
    answers = store.AnswerStore(tmp_path / "survey.sqlite")
    server = make_server(create_app(study, answers, ADMIN_TOKEN), port=0)
    threading.Thread(target=server.run, daemon=True).start()
    yield f"http://127.0.0.1:{server.effective_port}", study, answers
    server.close()


@pytest.fixture
def page():
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing; ./run_tests.sh installs Debian's chromium package (apt-get install chromium)."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:  # Playwright gives the browser a fresh, temporary profile
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser.new_page()
        browser.close()


def _rate(page, answers):
    for question, answer in answers.items():
        page.check(f'#{question} input[value="{answer}"]')
    page.click("button[type=submit]")


def test_a_rater_agrees_rates_two_images_passes_a_check_and_gets_the_code(served, page):
    base, study, answers = served
    rater = "browser-1"  # the platform's participant id, from the study link
    order = study.pages(rater)  # this rater's own order: image, image, image, check-1, ...
    assert order[3] == "check-1"
    for later in [order[2], *order[4:]]:  # the pages after the two images, as if answered before
        if later in study.files:
            answers.record(study.kit, rater, later, {q: 3 for q in QUESTION_KEYS})
        else:
            answers.record_check(study.kit, rater, later, study.check(later).instructed, 4)

    page.goto(f"{base}/?PROLIFIC_PID={rater}&STUDY_ID=st-1&SESSION_ID=se-1")
    assert study.consent in page.locator("#consent-text").inner_text()
    page.click("button[type=submit]")  # the box is not ticked: the browser refuses to send the form
    assert page.locator("h1").inner_text() == "Image study"
    page.check("input[name=consent]")
    page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == "Instructions"
    page.click("#start")

    assert page.locator("h1").inner_text() == "Page 1 of 11"
    assert page.locator("#progress").get_attribute("value") == "0"
    assert page.locator("img").get_attribute("src") == f"/images/{order[0]}.png"
    assert page.evaluate("document.querySelector('img').naturalWidth") == 8  # the kit's PNG, decoded
    assert page.locator("legend").first.inner_text() == "1. How much do you like this image:"
    first = {"app": 2, "nov": 3, "sur": 4, "amb": 5, "com": 1}
    _rate(page, {q: a for q, a in first.items() if q != "amb"})  # one question left out
    assert "'Rate the ambiguity of the image. I find this image' has no answer" in page.locator(".error").inner_text()
    assert page.locator("h1").inner_text() == "Page 1 of 11" and page.is_checked('#nov input[value="3"]')
    page.check('#amb input[value="5"]')
    page.click("button[type=submit]")

    assert page.locator("h1").inner_text() == "Page 2 of 11"
    second = {"app": 5, "nov": 5, "sur": 1, "amb": 2, "com": 3}
    _rate(page, second)
    assert page.locator("h1").inner_text() == "Page 4 of 11"  # page 3 was answered before
    page.go_back()  # pages are not cached: going back shows the next unanswered page, not a rated one
    assert page.locator("h1").inner_text() == "Page 4 of 11"
    assert "please choose 2 (dislike)" in page.locator("legend").inner_text() and page.locator("img").count() == 0
    _rate(page, {"check": 2})

    assert page.locator("h1").inner_text() == "Thank you"
    assert page.locator("#completion-code").inner_text() == "BROWSER-DONE"
    rows = answers.table()
    rows = rows.loc[rows["image"].isin(order[:2]), ["kit", "rater", "image", "question", "answer"]]
    expected = [(study.kit, rater, order[0], q, a) for q, a in first.items()]
    expected += [(study.kit, rater, order[1], q, a) for q, a in second.items()]
    assert list(rows.itertuples(index=False, name=None)) == expected
    checks = answers.table("checks").set_index("page")
    assert checks.loc["check-1", ["instructed", "answer"]].tolist() == [2, 2]
    platform = answers.table("raters").set_index("rater").loc[rater, "platform"]
    assert platform == '{"PROLIFIC_PID": "browser-1", "SESSION_ID": "se-1", "STUDY_ID": "st-1"}'
