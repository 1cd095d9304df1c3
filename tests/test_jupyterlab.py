"""JupyterLab, as set up in .venv by the runners, opens a notebook's percent file as a notebook (in real
Chromium), so the README's double click works."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from clipcreate_lib import paths

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def lab(tmp_path):
    """JupyterLab from .venv, serving a copy of a notebook (Lab writes checkpoints beside what it opens)."""
    root = tmp_path / "root"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(paths.NOTEBOOKS / "01_data.py", root / "notebooks")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        str(Path(sys.executable).with_name("jupyter")),
        "lab",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.token=",
        "--ServerApp.password=",
        f"--ServerApp.root_dir={root}",
        *(["--allow-root"] if os.geteuid() == 0 else []),
    ]
    log = tmp_path / "lab.log"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "run")}
    server = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        for _ in range(120):
            if f"127.0.0.1:{port}" in log.read_text():
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"JupyterLab did not start: {log.read_text()[-2000:]}")
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a server slow to shut down on a busy machine: the test is done
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)


def test_a_notebooks_percent_file_opens_as_a_notebook_on_a_double_click(lab):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; ./run_tests.sh installs Debian's chromium package.")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page()
            page.goto(f"{lab}/lab/tree/notebooks/01_data.py", timeout=120_000)  # the file's default viewer
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)  # none in a text editor
            # Lab renders a notebook's cells a few at a time: wait for them all, not the first
            page.wait_for_function("document.querySelectorAll('.jp-Notebook .jp-Cell').length > 10", timeout=60_000)
            assert page.locator(".jp-Notebook").get_by_text("01 · Data").count() >= 1
        finally:
            browser.close()
