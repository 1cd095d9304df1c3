"""A real headless browser (Debian's Chromium, driven by Playwright) rates two images of a kit through
the survey app; the answers are then read back from SQLite. ./run_tests.sh installs Chromium; this
test fails rather than skips without it."""

import sqlite3
import threading
from pathlib import Path

import pytest
from study_fixtures import build

from clipcreate_lib.study import survey

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
    build(tmp_path)
    study = survey.Study.load(tmp_path / "kit")
    httpd = survey.make_server(study, survey.AnswerStore(tmp_path / "survey.sqlite"), port=0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}", study, tmp_path / "survey.sqlite"
    httpd.shutdown()
    httpd.server_close()


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


def test_a_rater_rates_two_images_in_a_real_browser(served, page):
    base, study, db = served
    page.goto(base + "/")
    page.fill("input[name=rater]", "browser-1")
    page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == "Image 1 of 9"
    order = study.order("browser-1")  # this rater's own order of the kit
    assert page.locator("img").get_attribute("src") == f"/images/{order[0]}.png"
    assert page.evaluate("document.querySelector('img').naturalWidth") == 8  # the kit's PNG, decoded
    assert page.locator("legend").first.inner_text() == "1. How much do you like this image:"

    first = {"app": 2, "nov": 3, "sur": 4, "amb": 5, "com": 1}
    _rate(page, {q: a for q, a in first.items() if q != "amb"})  # one question left out
    assert "'Rate the ambiguity of the image. I find this image' has no answer" in page.locator(".error").inner_text()
    assert page.locator("h1").inner_text() == "Image 1 of 9" and page.is_checked('#nov input[value="3"]')
    page.check('#amb input[value="5"]')
    page.click("button[type=submit]")

    assert page.locator("h1").inner_text() == "Image 2 of 9"
    second = {"app": 5, "nov": 5, "sur": 1, "amb": 2, "com": 3}
    _rate(page, second)
    assert page.locator("h1").inner_text() == "Image 3 of 9"
    page.go_back()  # pages are not cached: going back shows the next unrated image, not a rated one
    assert page.locator("h1").inner_text() == "Image 3 of 9"

    rows = (
        sqlite3.connect(db).execute("SELECT kit, rater, image, question, answer FROM answers ORDER BY rowid").fetchall()
    )
    expected = [(study.kit, "browser-1", order[0], q, a) for q, a in first.items()]
    expected += [(study.kit, "browser-1", order[1], q, a) for q, a in second.items()]
    assert rows == expected
