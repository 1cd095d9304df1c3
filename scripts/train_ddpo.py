"""Train notebook 04's DDPO models from the command line: in this process, or data-parallel on the
processes of ``accelerate launch`` (one model at a time, every process sampling its share of each
epoch; ``clipcreate_lib/ddpo/processes.py``).

    accelerate launch --multi_gpu --num_processes 8 scripts/train_ddpo.py --profile paper
    accelerate launch --multi_gpu --num_processes 2 scripts/train_ddpo.py --profile tiny --models clip-full

Each model trains (or resumes) into ``data/<profile>/ddpo/<model>/`` as notebook 04 would train it,
and notebook 04 then finds it trained (a finished run is reused). The classifiers come from
notebooks 01-03 (``./run_all.sh --profile P --only 01``, then ``--only 02`` and ``--only 03``), which
must have run first.
``--multi_gpu`` chooses accelerate's torchrun launcher, the one that starts several processes; on a
machine without a GPU they train on the CPU and talk through gloo.
"""

from __future__ import annotations

import argparse

from clipcreate_lib import config, session
from clipcreate_lib.ddpo import runs
from clipcreate_lib.ddpo.processes import Processes
from clipcreate_lib.models import loaders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="tiny", help="a name in params/ or a YAML file's path")
    parser.add_argument("--models", nargs="+", choices=config.MODEL_NAMES, help="default: the profile's ddpo.models")
    parser.add_argument("--set", action="append", default=[], dest="sets", metavar="SECTION.KEY=VALUE")
    args = parser.parse_args()
    cfg = session.start(args.profile, config.parse_sets(args.sets))
    main = Processes(loaders.resolve_device(cfg.models)).is_main  # before any model: each process's device
    for name in args.models or cfg.ddpo.models:
        metrics = runs.train(cfg, name, progress=main)
        if main:
            print(f"{name}: {len(metrics)} epochs, last reward {metrics['reward_mean'].iloc[-1]:.4f}", flush=True)


if __name__ == "__main__":
    main()
