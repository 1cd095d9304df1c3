#!/usr/bin/env bash
# What one GPU lease runs, in the repository root there (device tool):
#   run(command="bash benchmarks/gpu_device.sh", carry=[".whl"], timeout_s=600)
# after benchmarks/gpu_wheels.sh has filled .whl here. It installs those wheels beside the image's
# packages, records the GPU and the versions, and runs benchmarks/gpu_sweep.py (every speed option,
# the 200-image evaluation) inside BUDGET seconds (default 520: the first lease's sweep, at 540, ended
# 560 s into its 600 s call), keeping its tables and log in $OUT.
# Arguments are passed on to gpu_sweep.py (e.g. --skip compile; the next lease: --skip baseline tf32 sdpa).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-build/gpu}"
mkdir -p "$OUT"
if ! ls .whl/*.whl > /dev/null 2>&1; then
    echo "error: no wheels in .whl; run benchmarks/gpu_wheels.sh here first and carry .whl with the call." >&2
    exit 1
fi
python3 -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .whl/*.whl || exit 1
export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/gpu.csv"
python3 -c 'import sys, torch, diffusers, transformers, peft, accelerate
print(f"python {sys.version.split()[0]}, torch {torch.__version__} (CUDA {torch.version.cuda}), diffusers "
      f"{diffusers.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, "
      f"accelerate {accelerate.__version__}")' | tee "$OUT/versions.txt"
python3 benchmarks/gpu_sweep.py --device cuda --budget "${BUDGET:-520}" --out "$OUT" "$@" 2>&1 | tee "$OUT/gpu_sweep.log"
