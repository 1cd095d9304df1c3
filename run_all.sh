#!/usr/bin/env bash
# Regenerate every table and figure: resolve and validate the profile first, then convert
# notebooks/NN_*.py to .ipynb with jupytext and execute them in order with papermill, each notebook's
# output streamed to the terminal and to its log as it runs.
#
#   ./run_all.sh                              tiny profile (CPU, minutes)
#   ./run_all.sh --profile mini               a miniature world pretrained here, where the effect shows (CPU, < 60 min)
#   ./run_all.sh --profile paper              the paper's models and settings (GPU and model hub)
#   ./run_all.sh --profile path/to/exp.yaml   a profile of your own (it may start with `extends: tiny`)
#   ./run_all.sh --set ddpo.epochs=5          any setting, typed as the setting's type (repeatable)
#   ./run_all.sh --from 02 | --only 01        resume from notebook 02, or run notebook 01 alone
#
# Each profile writes to its own folders: data/<profile>/, figures/<profile>/, build/<profile>/ (under
# CLIPCREATE_WORKDIR when it is set). A bad setting stops the run before any notebook, in one sentence.
set -euo pipefail
cd "$(dirname "$0")"

usage="usage: ./run_all.sh [--profile NAME|FILE.yaml] [--set SECTION.KEY=VALUE ...] [--from NN | --only NN]"
fail() { echo "error: $1" >&2; exit 2; }
profile=tiny; from=""; only=""; sets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --profile|--from|--only|--set)
            [ $# -ge 2 ] && [ -n "$2" ] || fail "$1 needs a value; $usage"
            case "$1" in
                --profile) profile="$2" ;;
                --from) from="$2" ;;
                --only) only="$2" ;;
                --set) sets+=(--set "$2") ;;
            esac
            shift 2 ;;
        -h|--help) echo "$usage"; exit 0 ;;
        *) fail "unknown option '$1'; $usage" ;;
    esac
done
if [ -n "$from" ] && [ -n "$only" ]; then
    fail "give --from or --only, not both; $usage"
fi
mapfile -t sources < <(ls notebooks/[0-9][0-9]_*.py | sort)
numbers=$(for s in "${sources[@]}"; do basename "$s" | cut -c1-2; done | tr '\n' ' ')
for n in "$from" "$only"; do
    if [ -n "$n" ] && { ! [[ "$n" =~ ^[0-9]{2}$ ]] || ! printf '%s\n' "${sources[@]}" | grep -q "^notebooks/${n}_"; }; then
        fail "unknown notebook number '$n'; the notebooks are: $numbers"
    fi
done

source scripts/bootstrap.sh
work="${CLIPCREATE_WORKDIR:-$PWD}"
staged=$(mktemp -d)
trap 'rm -rf "$staged"' EXIT
# Every setting is checked here, before anything is written; a problem is one sentence and exit 2.
read -r name source < <(python -m clipcreate_lib.config resolve "$profile" "${sets[@]}" --out "$staged" \
    || echo "FAILED") || true
[ -n "${name:-}" ] && [ "$name" != FAILED ] || exit 2

built="$staged/notebooks"; run_dir="$work/build/$name"; logs="$run_dir/logs"
mkdir -p "$built" "$logs" "$work/figures/$name"
mv "$staged/parameters.yaml" "$run_dir/parameters.yaml"
mv "$staged/settings.yaml" "$work/figures/$name/settings.yaml"
if [ "$source" = tiny ] || [ "$source" = mini ]; then
    # The small models never need the hub, and one torch thread is fastest for them on small CPUs.
    export HF_HUB_OFFLINE=1 OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
fi
# The notebooks' progress bars as text on the terminal (widgets would reach the .ipynb only), at
# most one update a second so a long run's log stays small.
export CLIPCREATE_PROGRESS=text TQDM_MININTERVAL="${TQDM_MININTERVAL:-1}"

started=$SECONDS
for src in "${sources[@]}"; do
    nb=$(basename "$src" .py); number=${nb:0:2}
    if [ -n "$only" ] && [ "$number" != "$only" ]; then continue; fi
    if [ -n "$from" ] && [[ "$number" < "$from" ]]; then continue; fi
    jupytext --quiet --to ipynb "$src" -o "$built/$nb.ipynb"
    t0=$SECONDS
    echo "[$name] $nb ..."
    : > "$logs/$nb.log"
    status=0
    papermill "$built/$nb.ipynb" "$run_dir/$nb.ipynb" -k python3 -f "$run_dir/parameters.yaml" \
        --log-level WARNING --stdout-file /dev/stdout --stderr-file /dev/stdout 2>> "$logs/$nb.log" \
        | tee -a "$logs/$nb.log" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "FAILED: $src: $(python scripts/notebook_error.py "$run_dir/$nb.ipynb") (traceback: $run_dir/$nb.ipynb;" \
             "log: $logs/$nb.log)" >&2
        exit 1
    fi
    echo "[$name] $nb done in $((SECONDS - t0)) s"
done
echo "all done in $((SECONDS - started)) s. Tables and figures: $work/figures/$name/  data: $work/data/$name/" \
     " executed notebooks: $run_dir/"
