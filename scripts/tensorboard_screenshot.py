"""A screenshot of TensorBoard's page for a folder of runs: the figure in README's "Watching a run".

    python scripts/tensorboard_screenshot.py LOGDIR OUT.png [--filter TEXT]

starts ``tensorboard --logdir LOGDIR`` on 127.0.0.1, opens its time-series page in Debian's Chromium
(driven by playwright, as the survey's browser test drives it), lets the charts and the sample grid
load, and saves the page as a PNG. ``--filter`` types TEXT (a regular expression) into the page's
tag filter. The charts' outlier clipping is turned off (a few epochs: every point counts);
smoothing stays TensorBoard's 0.6 (the dark line smoothed, the faint one as logged).
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ARGS += ["--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("logdir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--filter", default="")
    args = parser.parse_args()
    port = free_port()
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(args.logdir), "--host", "127.0.0.1"]
    server = subprocess.Popen([*command, "--port", str(port)], stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(120):  # until it answers
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/#timeseries", wait_until="networkidle")
            page.get_by_text("Ignore outliers in chart scaling").click()  # a few epochs: every point counts
            page.get_by_role("button", name="Close side pane").click()  # the settings, open at first
            if args.filter:
                page.get_by_role("combobox", name="Filter tags (regex)").fill(args.filter)
                page.keyboard.press("Escape")  # the list of matching tags
            time.sleep(5)  # the charts draw after their data arrives
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
