#!/usr/bin/env bash
# Lint (ruff), then the tests: units, trl parity, the survey in Chromium, and every numbered notebook
# executed on the tiny profile. Test runs write their data and figures under build/test-work, never
# over a user's results.
set -euo pipefail
cd "$(dirname "$0")"
export CLIPCREATE_EXTRAS="notebooks,dev,parity"  # parity: trl 0.23.1 for tests/test_trl_parity.py
source scripts/bootstrap.sh

# The survey's browser test drives Debian's Chromium (never a browser downloaded by Playwright).
mkdir -p build
if [ ! -x /usr/bin/chromium ]; then
    echo "[setup] installing Debian's chromium for tests/test_survey_browser.py"
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if ! { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
            > build/chromium-install.log 2>&1; then
        echo "error: installing chromium failed (see build/chromium-install.log); install Debian's chromium package" >&2
        exit 1
    fi
    # One throw-away start, so the first test does not also pay for Chromium's first-run set-up.
    timeout 60 /usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
        --no-first-run --dump-dom about:blank > /dev/null 2>&1 || true
fi

echo "[lint] ruff check and ruff format --check"
ruff check --quiet .
ruff format --check --quiet .

export HF_HUB_OFFLINE=1 OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" CLIPCREATE_PROGRESS=text
export CLIPCREATE_WORKDIR="$PWD/build/test-work"
rm -rf "$CLIPCREATE_WORKDIR"
# Two processes, one per core, each taking whole test files (module fixtures stay in one process);
# tests/test_notebooks.py executes every numbered notebook once, in order, through papermill, and
# starts first as the longest file (tests/conftest.py). The slowest tests are listed at the end.
python -m pytest tests -n "${CLIPCREATE_TEST_PROCESSES:-2}" --dist loadfile --durations=12 "$@"
