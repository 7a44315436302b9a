#!/usr/bin/env bash
# The trimmed GPU profile, in three parts, each under its own time limit so that one slow part cannot cost the
# others (a lent GPU machine gives minutes, not hours):
#   1. the GPU side of the crossover map (`mlp-bench map`): torch-gpu and jax-gpu at widths x1, x4, x16 of the
#      seed's hidden layers, depth 2, train steps and one full epoch at B=500 and 20000;
#   2. the seed model: torch-gpu, torch-compile-gpu, jax-gpu, and Keras (seed maths and stock fit) on the JAX
#      backend, steps and 35-epoch runs at B=500 and 20000;
#   3. the CNN on the GPU and on the same machine's CPU, so that its GPU/CPU ratio comes from one machine.
# Two worker processes per case. Written for a lent GPU machine that has recent PyTorch and JAX but no
# TensorFlow, Keras or line_profiler and no network, and to which only the working tree travels:
#
#   scripts/gpu_profile.sh prepare        # here, with network: MNIST into .mnist/, Keras' wheels into .whl/
#   scripts/gpu_profile.sh run [DIR]      # there (carry .mnist and .whl): run folders under DIR (results)
#
# MAP_IMPLS, IMPLS, CNN_IMPLS and QUICK=1 override the selection, MAP_S, MLP_S and CNN_S set the parts' limits
# in seconds (default 0: none; a part stopped by its limit keeps its finished workers, and the next part runs);
# with OUT set, the results folder is packed into $OUT/gpu-results.tgz. Time it needs: on the H200 machine each
# GPU worker took 20-50 s, mostly start-up (CUDA, XLA and Inductor compilation), so the three parts are about
# 24 + 20 + 4 workers, some 25 minutes; on a shorter lease give each part a limit, or a narrower selection. On a CPU machine the same script is tested with
#   MAP_IMPLS=numpy-tuned,torch-cpu IMPLS=torch-cpu,jax-cpu,keras-cpu,keras-fit-cpu \
#     CNN_IMPLS=keras-cnn-cpu QUICK=1 scripts/gpu_profile.sh run /tmp/gpu-test
set -euo pipefail
cd "$(dirname "$0")/.."

# what the GPU image lacks: Keras 3 (see docs/results-and-machines.md) and line_profiler (bench's CLI imports it)
WHEELS=("keras==3.15.1" "namex" "optree" "line_profiler")

prepare() {
  local mnist="${MLPBENCH_MNIST:?set MLPBENCH_MNIST to the directory of the four MNIST IDX files}"
  mkdir -p .mnist .whl
  cp "$mnist"/*-ubyte* .mnist/
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
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
  local quick=() map_quick=()
  [[ "${QUICK:-0}" == 1 ]] && quick=(--quick --processes 2) && map_quick=(--widths 1,4 --batch-sizes 500
                                                                         --epoch-batch-sizes 500)
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2> /dev/null || echo "no nvidia-smi"
  timeout "${MAP_S:-0}" python3 -m bench.cli map --results-dir "$results" --processes 2 \
    --impl "${MAP_IMPLS:-torch-gpu,jax-gpu}" --widths 1,4,16 --depths 2 --batch-sizes 500,20000 \
    --epoch-batch-sizes 500,20000 "${map_quick[@]}" || echo "map: exit $?"
  timeout "${MLP_S:-0}" python3 -m pytest bench/ --benchmark-only -p no:cacheprovider --results-dir "$results" \
    --tag gpu-mlp --impl "${IMPLS:-torch-gpu,torch-compile-gpu,jax-gpu,keras-gpu,keras-fit-gpu}" --processes 2 \
    --batch-sizes 500,20000 --full-run-batch-sizes 500,20000 "${quick[@]}" || echo "mlp profile: exit $?"
  timeout "${CNN_S:-0}" python3 -m pytest bench/ --benchmark-only -p no:cacheprovider --results-dir "$results" \
    --tag gpu-cnn --workload cnn --impl "${CNN_IMPLS:-keras-cnn-gpu,keras-cnn-cpu}" --processes 2 \
    --phases train_step,full_run "${quick[@]}" || echo "cnn profile: exit $?"
  if [[ -n "${OUT:-}" ]]; then
    tar czf "$OUT/gpu-results.tgz" -C "$results" . && ls -l "$OUT"
  fi
}

case "${1:-}" in
  prepare) prepare ;;
  run) shift; run "$@" ;;
  *) echo "usage: scripts/gpu_profile.sh prepare | run [RESULTS_DIR]" >&2; exit 2 ;;
esac
