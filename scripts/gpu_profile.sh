#!/usr/bin/env bash
# The trimmed GPU profile: torch-gpu, torch-compile-gpu, jax-gpu, and Keras (seed maths and stock fit) on the
# JAX backend, plus the CNN on it; two worker processes per case. Written for a lent GPU machine that has
# recent PyTorch and JAX but no TensorFlow or Keras and no network, and to which only the working tree travels:
#
#   scripts/gpu_profile.sh prepare        # here, with network: MNIST into .mnist/, Keras' wheels into .whl/
#   scripts/gpu_profile.sh run [DIR]      # there (carry .mnist and .whl): run folders under DIR (results)
#
# IMPLS, CNN_IMPLS and QUICK=1 override the selection; on a CPU machine the same script is tested with
#   IMPLS=torch-cpu,torch-compile-cpu,jax-cpu,keras-cpu,keras-fit-cpu CNN_IMPLS=keras-cnn-cpu QUICK=1 \
#     scripts/gpu_profile.sh run /tmp/gpu-test
set -euo pipefail
cd "$(dirname "$0")/.."

KERAS_WHEELS=("keras==3.15.1" "namex" "optree")  # what the GPU image lacks for Keras 3 (see docs/results-and-machines.md)

prepare() {
  local mnist="${MLPBENCH_MNIST:?set MLPBENCH_MNIST to the directory of the four MNIST IDX files}"
  mkdir -p .mnist .whl
  cp "$mnist"/*-ubyte* .mnist/
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "${KERAS_WHEELS[@]}"
  du -sh .mnist .whl
}

run() {
  local results="${1:-results}"
  if compgen -G ".whl/*.whl" > /dev/null && ! python3 -c "import keras" 2> /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
  fi
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the project itself, not installed there
  export MLPBENCH_MNIST="${MLPBENCH_MNIST:-$PWD/.mnist}" MLPBENCH_OFFLINE=1 MPLBACKEND=Agg PYTHONUNBUFFERED=1
  export KERAS_BACKEND="${KERAS_BACKEND:-jax}"
  local quick=()
  [[ "${QUICK:-0}" == 1 ]] && quick=(--quick --processes 2)
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2> /dev/null || echo "no nvidia-smi"
  python3 -m pytest bench/ --benchmark-only -p no:cacheprovider --results-dir "$results" --tag gpu-mlp \
    --impl "${IMPLS:-torch-gpu,torch-compile-gpu,jax-gpu,keras-gpu,keras-fit-gpu}" --processes 2 \
    --batch-sizes 500,20000 --full-run-batch-sizes 500,20000 "${quick[@]}" || echo "mlp profile: exit $?"
  python3 -m pytest bench/ --benchmark-only -p no:cacheprovider --results-dir "$results" --tag gpu-cnn \
    --workload cnn --impl "${CNN_IMPLS:-keras-cnn-gpu}" --processes 2 --phases train_step,full_run \
    "${quick[@]}" || echo "cnn profile: exit $?"
}

case "${1:-}" in
  prepare) prepare ;;
  run) shift; run "$@" ;;
  *) echo "usage: scripts/gpu_profile.sh prepare | run [RESULTS_DIR]" >&2; exit 2 ;;
esac
