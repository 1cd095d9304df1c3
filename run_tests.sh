#!/usr/bin/env bash
# Unit tests, then every numbered notebook executed with nbval on the tiny profile. Test runs write
# their data and figures under build/test-work, never over a user's results.
set -euo pipefail
cd "$(dirname "$0")"
export CLIPCREATE_EXTRAS="notebooks,dev,parity"  # parity: trl 0.23.1 for tests/test_trl_parity.py
source scripts/bootstrap.sh

export HF_HUB_OFFLINE=1 OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export CLIPCREATE_WORKDIR="$PWD/build/test-work"
rm -rf "$CLIPCREATE_WORKDIR"
mkdir -p build/notebooks
notebooks=()
for src in notebooks/[0-9][0-9]_*.py; do
    name=$(basename "$src" .py)
    jupytext --quiet --to ipynb "$src" -o "build/notebooks/$name.ipynb"
    notebooks+=("build/notebooks/$name.ipynb")
done
python -m pytest tests "${notebooks[@]}" --nbval-lax --nbval-cell-timeout=900 "$@"
