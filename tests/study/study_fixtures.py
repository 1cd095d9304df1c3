"""A small evaluation output (manifests and PNGs, as notebook 05 writes them) and a kit built from it,
and the real survey server in a process of its own, shared by the user-study, survey and browser tests."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from clipcreate_lib.config import UserStudyConfig
from clipcreate_lib.evaluation import generation
from clipcreate_lib.study import kit, questions

MODELS = ["disc-full", "clip-full", "kmeans-full"]
ADMIN_TOKEN = "test-admin-token"


def fake_eval_dirs(root: Path, images: int = 8) -> dict[str, Path]:
    """Per model, ``images`` 8-px PNGs whose colour encodes model and index, and a manifest."""
    dirs = {}
    for m, model in enumerate(MODELS):
        out = root / "eval" / model
        (out / "images").mkdir(parents=True)
        rows = []
        for i in range(images):
            file = f"images/{i:05d}.png"
            Image.fromarray(np.full((8, 8, 3), (40 * m, 10 * i, 200), np.uint8)).save(out / file)
            rows.append({"model": model, "index": i, "prompt": generation.prompt(i), "seed": i, "file": file})
        pd.DataFrame(rows).to_csv(out / generation.MANIFEST, index=False)
        dirs[model] = out
    return dirs


def build(root: Path, **settings) -> tuple[UserStudyConfig, dict[str, Path], pd.DataFrame]:
    """Evaluation output under ``root`` and a kit of it in root/kit, key in root/key/key.csv."""
    cfg = UserStudyConfig(models=list(MODELS), image_indices=[0, 3, 6], **settings)
    dirs = fake_eval_dirs(root)
    key = kit.build_kit(cfg, dirs, root / "kit", root / "key" / "key.csv", root / "survey.sqlite")
    return cfg, dirs, key


def free_port() -> int:
    """A port nothing listens on now (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(root: Path, port: int, timeout: int = 30, threads: int = 8) -> subprocess.Popen:
    """The real survey server (``survey serve``, waitress) of root/kit in its own process, once it
    accepts connections; its output goes to root/server.log."""
    log = (root / "server.log").open("a")
    command = [sys.executable, "-m", "clipcreate_lib.study.survey", "serve", "--kit", str(root / "kit")]
    command += ["--db", str(root / "survey.sqlite"), "--port", str(port), "--timeout", str(timeout)]
    command += ["--threads", str(threads)]
    env = {**os.environ, "SURVEY_ADMIN_TOKEN": ADMIN_TOKEN}
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return process
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"the survey server did not start: {(root / 'server.log').read_text()}")


def server_log(root: Path) -> str:
    return (root / "server.log").read_text()


def answer_form(rater: str, page: str) -> dict[str, str]:
    """A complete page: 3 to each of an image's questions, the instructed 2 to an attention check."""
    if page.startswith("check-"):
        return {"rater": rater, "image": page, questions.CHECK_KEY: "2"}
    return {"rater": rater, "image": page, **{q: "3" for q in questions.QUESTION_KEYS}}
