#!/usr/bin/env bash
# The wheels a GPU lease needs beside its image (device tool, kind nvidia-h200): the pure-Python
# packages that image lacks (diffusers, datasets and two of its needs) or holds at another version
# (peft), at the versions this project's .venv resolved, for the image's Python 3.12. Into .whl/,
# which git ignores and a `run` call carries (carry: [".whl"]); benchmarks/gpu_device.sh installs
# them there. The image's own torch, transformers, accelerate and the rest are used as they are.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh  # .venv: its versions are the ones the tests passed with
rm -rf .whl
mkdir -p build
mkdir .whl
for name in diffusers peft datasets dill multiprocess; do
    version=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('$name'))")
    if ! python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
            --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
            --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl "$name==$version" \
            > build/gpu-wheels.log 2>&1; then
        echo "error: no Python 3.12 wheel of $name $version could be downloaded (see build/gpu-wheels.log)." >&2
        exit 1
    fi
done
ls .whl
du -sh .whl
