# Sourced by run_all.sh and run_tests.sh: create or reuse .venv and install the project into it,
# again only when pyproject.toml changes or an extra is wanted that is not installed yet.
# CLIPCREATE_EXTRAS names the extras (default notebooks,dev; run_tests.sh adds parity).
# Needs Python 3.11 or newer (3.11 is the tested one) and a package index (PyPI).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"

if [ ! -x "$VENV/bin/python" ]; then
    PY="${PYTHON:-}"
    if [ -z "$PY" ]; then
        # 3.11 first: the tested version, and the one this project's CPU torch wheel is built for
        for candidate in python3.11 python3; do
            if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
                PY="$candidate"; break
            fi
        done
    fi
    if [ -z "$PY" ]; then
        echo "error: Python 3.11 or newer not found; install it or point PYTHON at it (e.g. PYTHON=/usr/bin/python3.11 $0)." >&2
        exit 1
    fi
    echo "[setup] creating $VENV with $("$PY" --version)"
    "$PY" -m venv "$VENV"
fi

STAMP="$VENV/.clipcreate-deps"
EXTRAS="${CLIPCREATE_EXTRAS:-notebooks,dev}"
SHA="$(sha256sum < "$REPO/pyproject.toml" | cut -d' ' -f1)"
read -r HAVE_SHA HAVE_EXTRAS 2>/dev/null < "$STAMP" || true
missing=""
for extra in ${EXTRAS//,/ }; do
    case ",${HAVE_EXTRAS:-}," in *",$extra,"*) ;; *) missing="$missing $extra" ;; esac
done
if [ "${HAVE_SHA:-}" != "$SHA" ] || [ -n "$missing" ]; then
    [ "${HAVE_SHA:-}" = "$SHA" ] && EXTRAS="$HAVE_EXTRAS,${missing# }" && EXTRAS="${EXTRAS// /,}"
    # The installed .venv takes about 2.2 GB; pip also unpacks wheels beside it. A full disk is the
    # commonest failure, and pip reports it only at the end of its log.
    free_mb=$(df -Pm "$VENV" | awk 'NR == 2 {print $4}')
    if [ "$free_mb" -lt 3000 ]; then
        echo "error: installing the dependencies needs about 3000 MB free on the disk of $VENV, and only $free_mb MB are; free some space and run again." >&2
        exit 1
    fi
    echo "[setup] installing the project and its dependencies into .venv (first run: a few minutes)"
    if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$REPO[$EXTRAS]" \
            > "$VENV/install.log" 2>&1; then
        echo "error: installing dependencies failed ($(grep -m1 '^ERROR' "$VENV/install.log" || tail -n 1 "$VENV/install.log")); see $VENV/install.log" >&2
        exit 1
    fi
    echo "$SHA $EXTRAS" > "$STAMP"
fi
# JupyterLab in .venv opens the notebooks/*.py percent files as notebooks on a double click.
LAB_SETTINGS="$VENV/share/jupyter/lab/settings"
if [ -d "$VENV/share/jupyter/lab" ] && [ ! -f "$LAB_SETTINGS/overrides.json" ]; then
    mkdir -p "$LAB_SETTINGS"
    echo '{"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Jupytext Notebook"}}}' \
        > "$LAB_SETTINGS/overrides.json"
fi
export PATH="$VENV/bin:$PATH"
