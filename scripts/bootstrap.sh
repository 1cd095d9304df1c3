# Sourced by run_all.sh and run_tests.sh: create or reuse .venv and install the project into it,
# again only when the dependency files change. Needs Python 3.11 and a package index (PyPI).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"

if [ ! -x "$VENV/bin/python" ]; then
    PY="${PYTHON:-}"
    if [ -z "$PY" ]; then
        for candidate in python3.11 python3; do
            if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
                PY="$candidate"; break
            fi
        done
    fi
    if [ -z "$PY" ]; then
        echo "error: Python 3.11 not found; install it or point PYTHON at it (e.g. PYTHON=/usr/bin/python3.11 $0)." >&2
        exit 1
    fi
    echo "[setup] creating $VENV with $("$PY" --version)"
    "$PY" -m venv "$VENV"
fi

STAMP="$VENV/.clipcreate-deps"
WANT="$(cat "$REPO/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
    echo "[setup] installing the project and its dependencies into .venv (first run: a few minutes)"
    if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$REPO[notebooks,dev]" \
            > "$VENV/install.log" 2>&1; then
        echo "error: installing dependencies failed; see $VENV/install.log" >&2
        exit 1
    fi
    echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
