"""Resolve a profile on the command line: what run_all.sh checks before any notebook starts.

    python -m clipcreate_lib.config resolve PROFILE [--set section.key=value ...] --out DIR
    python -m clipcreate_lib.config show PROFILE [--set section.key=value ...]

``resolve`` validates the profile with its overrides and, only then, writes DIR/parameters.yaml
(the notebooks' two parameters) and DIR/settings.yaml (every resolved setting), and prints the
profile's name and its models' source. Any problem is one sentence on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from clipcreate_lib import artifacts, config
from clipcreate_lib.config import profiles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clipcreate_lib.config", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("resolve", "show"):
        command = commands.add_parser(name)
        command.add_argument("profile", help="a profile in params/ by name, or a YAML file's path")
        command.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", dest="sets")
        if name == "resolve":
            command.add_argument("--out", type=Path, required=True, help="folder for parameters.yaml, settings.yaml")
    args = parser.parse_args(argv)
    try:
        overrides = config.parse_sets(args.sets)
        cfg = config.check_notebooks(config.load(args.profile, overrides))
    except config.ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.command == "show":
        print(config.describe(cfg))
        return 0
    given = str(profiles.find(args.profile)[1]) if str(args.profile).endswith(profiles.SUFFIXES) else cfg.profile
    parameters = yaml.safe_dump({"profile": given, "overrides": overrides}, sort_keys=False)
    artifacts.atomic_write(args.out / "parameters.yaml", lambda f: f.write(parameters.encode()))
    config.save(cfg, args.out / "settings.yaml")
    print(cfg.profile, cfg.models.source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
