"""The survey on the command line: serve the kit to raters, export what they answered, see how far they are.

    python -m clipcreate_lib.study.survey serve --profile tiny    # http://127.0.0.1:8765/, the profile's kit
    python -m clipcreate_lib.study.survey status --profile tiny   # raters started and finished, answers per model
    python -m clipcreate_lib.study.survey export --profile tiny   # -> data/tiny/user_study/{responses,attention}/

A rater opens the study link (the recruitment platform adds its participant, study and session ids),
agrees on the consent page, reads the instructions and answers the kit's pages in an order of their
own (``pages.Study.pages``), then gets the completion code. The app is ``app.create_app``, served by
waitress (``server.make_server``); every answer is committed to SQLite (``store.AnswerStore``) before
the next page is served. ``--host 0.0.0.0`` serves other machines, in plain HTTP: put a reverse
proxy with TLS (Caddy, nginx) in front of it for a public study (docs/user-study.md).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

import pandas as pd

from clipcreate_lib import artifacts, paths
from clipcreate_lib.paths import study_files
from clipcreate_lib.study.app import create_app
from clipcreate_lib.study.pages import Study
from clipcreate_lib.study.responses import read_key
from clipcreate_lib.study.server import is_local, make_server
from clipcreate_lib.study.store import AnswerStore

TOKEN_VARIABLE = "SURVEY_ADMIN_TOKEN"  # the admin export's token; a random one is made when unset
PUBLIC_WARNING = (
    "warning: serving {host} in plain HTTP. For a public study put a reverse proxy with TLS (Caddy or "
    "nginx, with a certificate for your domain) in front of it, and send raters to its https:// address."
)


def export(store: AnswerStore, responses_file: Path, checks_file: Path) -> list[Path]:
    """Every answer as a response CSV (with each page's seconds) and every attention check as a check
    CSV, each written atomically: the inputs of Table II."""
    return [
        artifacts.save_csv(responses_file, store.table("answers")),
        artifacts.save_csv(checks_file, store.table("checks")),
    ]


def status(store: AnswerStore, study: Study, key: pd.DataFrame | None) -> list[str]:
    """Lines saying how many raters of this kit started (agreed or answered) and finished, and (with
    the key) the images rated per model."""
    answers, checks, consents = (store.table(name) for name in ("answers", "checks", "raters"))
    answers, checks = answers[answers["kit"] == study.kit], checks[checks["kit"] == study.kit]
    pages = pd.concat(
        [answers[["rater", "image"]].drop_duplicates().rename(columns={"image": "page"}), checks[["rater", "page"]]]
    )
    started = set(consents.loc[consents["kit"] == study.kit, "rater"]) | set(pages["rater"])
    total = len(study.images) + len(study.checks)
    finished = int((pages.groupby("rater").size() == total).sum())
    lines = [
        f"kit {study.kit}: {len(started)} raters started, {finished} finished all {total} pages "
        f"({len(study.images)} images, {len(study.checks)} attention checks)"
    ]
    if key is not None:
        rated = answers.merge(key[["kit", "image", "model"]], on=["kit", "image"])
        for model, cell in rated.groupby("model"):
            shown = cell.drop_duplicates(["rater", "image"])
            lines.append(
                f"  {model}: {len(cell)} answers ({len(shown)} images rated) from {cell['rater'].nunique()} raters"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    paths.use_profile(args.profile)
    args.db = args.db or study_files.survey_db()
    if args.command == "export":
        if not args.db.exists():
            parser.error(f"no answers database at {args.db}")
        written = export(
            AnswerStore(args.db),
            args.out or study_files.responses_dir() / "survey.csv",
            args.checks or study_files.attention_dir() / "survey.csv",
        )
        print(*(f"-> {file}" for file in written), sep="\n")
        return 0
    try:
        study = Study.load(args.kit or study_files.study_kit_dir())
    except FileNotFoundError as error:
        parser.error(str(error))
    if args.command == "status":
        key_file = args.key or study_files.study_key_file()
        print(*status(AnswerStore(args.db), study, read_key(key_file) if key_file.exists() else None), sep="\n")
        return 0
    return _serve(study, args)


def _serve(study: Study, args: argparse.Namespace) -> int:
    token = os.environ.get(TOKEN_VARIABLE) or secrets.token_urlsafe(24)
    server = make_server(
        create_app(study, AnswerStore(args.db), token), args.host, args.port, args.threads, args.timeout
    )
    base = f"http://{args.host}:{server.effective_port}"
    print(
        f"Survey of kit {study.kit} ({len(study.images)} images, {len(study.checks)} attention checks) at {base}/ ;"
        f" answers -> {args.db}. Ctrl-C stops it.",
        flush=True,
    )
    shown = f"${TOKEN_VARIABLE}" if os.environ.get(TOKEN_VARIABLE) else token
    print(
        f"Admin export: {base}/admin/answers.csv (checks.csv, raters.csv), header 'Authorization: Bearer {shown}'",
        flush=True,
    )
    if not is_local(args.host):
        print(PUBLIC_WARNING.format(host=args.host), file=sys.stderr, flush=True)
    server.run()  # until Ctrl-C
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m clipcreate_lib.study.survey", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the kit's survey (this machine only, unless --host)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on; 0.0.0.0 for every interface (put TLS in front)"
    )
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--threads", type=int, default=8, help="worker threads answering requests")
    serve.add_argument(
        "--timeout", type=int, default=30, help="seconds a request may take to arrive, and an idle connection may stay"
    )
    status_ = commands.add_parser("status", help="raters started and finished, answers per model")
    status_.add_argument("--key", type=Path, help="the kit's key (default: the profile's), for answers per model")
    for command in (serve, status_):
        command.add_argument("--kit", type=Path, help="study kit folder (default: the profile's, from notebook 06)")
    export_ = commands.add_parser("export", help="write every answer and attention check to CSV files")
    export_.add_argument("--out", type=Path, help="response CSV (default: the profile's responses/survey.csv)")
    export_.add_argument(
        "--checks", type=Path, help="attention-check CSV (default: the profile's attention/survey.csv)"
    )
    for command in (serve, status_, export_):
        command.add_argument("--profile", default="tiny", help="whose data/<profile>/user_study/ to use (tiny)")
        command.add_argument("--db", type=Path, help="SQLite file of the answers (default: the profile's)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
