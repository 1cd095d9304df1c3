#!/usr/bin/env bash
# Regenerate every table and figure: convert notebooks/NN_*.py to build/notebooks/*.ipynb with
# jupytext and execute them in order with papermill; each notebook reads params/<profile>.yaml.
#
#   ./run_all.sh                     tiny profile (CPU, minutes)
#   ./run_all.sh --profile mini      a miniature world pretrained here, where the effect shows (CPU, < 60 min)
#   ./run_all.sh --profile paper     the paper's models and settings (GPU and model hub)
#   ./run_all.sh --from 02           resume from notebook 02
#   ./run_all.sh --only 01           run notebook 01 alone
set -euo pipefail
cd "$(dirname "$0")"

usage="usage: ./run_all.sh [--profile tiny|mini|paper|paper-shaped] [--from NN | --only NN]"
profile=tiny; from=""; only=""
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile="${2:-}"; shift 2 || { echo "$usage" >&2; exit 2; } ;;
        --from) from="${2:-}"; shift 2 || { echo "$usage" >&2; exit 2; } ;;
        --only) only="${2:-}"; shift 2 || { echo "$usage" >&2; exit 2; } ;;
        -h|--help) echo "$usage"; exit 0 ;;
        *) echo "error: unknown option '$1'; $usage" >&2; exit 2 ;;
    esac
done
if [ ! -f "params/$profile.yaml" ]; then
    echo "error: unknown profile '$profile'; choose one of: $(ls params | sed -n 's/\.yaml$//p' | tr '\n' ' ')" >&2
    exit 2
fi
if [ -n "$from" ] && [ -n "$only" ]; then
    echo "error: give --from or --only, not both; $usage" >&2
    exit 2
fi
mapfile -t sources < <(ls notebooks/[0-9][0-9]_*.py | sort)
numbers=$(for s in "${sources[@]}"; do basename "$s" | cut -c1-2; done | tr '\n' ' ')
for n in "$from" "$only"; do
    if [ -n "$n" ] && { ! [[ "$n" =~ ^[0-9]{2}$ ]] || ! printf '%s\n' "${sources[@]}" | grep -q "^notebooks/${n}_"; }; then
        echo "error: unknown notebook number '$n'; the notebooks are: $numbers" >&2
        exit 2
    fi
done

source scripts/bootstrap.sh
if [ "$profile" = tiny ] || [ "$profile" = mini ]; then
    # These profiles never need the hub; one torch thread is fastest on small CPUs (docs/design.md).
    export HF_HUB_OFFLINE=1 OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
fi

work="${CLIPCREATE_WORKDIR:-$PWD}"
built=build/notebooks; executed="$work/build/executed/$profile"; logs="$work/build/logs/$profile"
mkdir -p "$built" "$executed" "$logs"
started=$SECONDS
for src in "${sources[@]}"; do
    name=$(basename "$src" .py); number=${name:0:2}
    if [ -n "$only" ] && [ "$number" != "$only" ]; then continue; fi
    if [ -n "$from" ] && [[ "$number" < "$from" ]]; then continue; fi
    jupytext --quiet --to ipynb "$src" -o "$built/$name.ipynb"
    t0=$SECONDS
    echo "[$profile] $name ..."
    if ! papermill "$built/$name.ipynb" "$executed/$name.ipynb" -k python3 -p profile "$profile" \
            --log-level WARNING > "$logs/$name.log" 2>&1; then
        echo "FAILED: $src; the traceback is in $executed/$name.ipynb (log: $logs/$name.log)" >&2
        exit 1
    fi
    echo "[$profile] $name done in $((SECONDS - t0)) s"
done
echo "all done in $((SECONDS - started)) s. Tables and figures: $work/figures/  data: $work/data/  executed notebooks: $executed/"
