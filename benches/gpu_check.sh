#!/usr/bin/env bash
# The GPU checks of issues 4 and 5 as one prepared script for a GPU machine that builds nothing
# (about 6-8 minutes). Build the two binaries here, carry them over, then run this there:
#
#   source scripts/env.sh
#   cargo bench -p supernet --bench step --no-run          # prints the step binary's path
#   cargo bench -p oneshot --bench search_epoch --no-run   # prints the search-epoch binary's path
#   STEP_BIN=... EPOCH_BIN=... PYTHON=/path/to/python-with-torch benches/gpu_check.sh [--device cuda]
#
# 1. The supernet training step (space 3, C = 16, 9 cells, batch 96, DARTS first order) in tch
#    (layouts parity, frozen, channels-last) and in PyTorch eager (default and channels-last).
# 2. Whole search epochs (DARTS, GDAS, Random-WS; the paper's supernet) next to the data pipeline.
# Libtorch comes from the machine's torch wheel (LD_LIBRARY_PATH is set from PYTHON's torch).
# `--device cpu --quick` runs the same steps briefly on a CPU machine, to check the script.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DEVICE=cuda QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
: "${STEP_BIN:?set STEP_BIN to the prebuilt step bench (cargo bench -p supernet --bench step --no-run)}"
: "${EPOCH_BIN:?set EPOCH_BIN to the prebuilt search-epoch bench (cargo bench -p oneshot --bench search_epoch --no-run)}"
PYTHON=${PYTHON:-$ROOT/.torch/bin/python}
TORCH_LIB=$("$PYTHON" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

if [ "$QUICK" = 1 ]; then
  STEP_ARGS=(--batch 8 --steps 1 --warmup 0) IMAGES=32
else
  STEP_ARGS=(--batch 96 --steps 20 --warmup 5) IMAGES=960
fi

echo "== 1/2 training step, $DEVICE"
BENCH_BIN="$STEP_BIN" PYTHON="$PYTHON" timeout 300 benches/run_step_bench.sh --device "$DEVICE" \
  "${STEP_ARGS[@]}" --variants parity,frozen,channels-last --channels-last

echo "== 2/2 search epochs, $DEVICE ($IMAGES training images per epoch)"
NB1S1_BENCH_DEVICE=$DEVICE NB1S1_BENCH_IMAGES=$IMAGES NB1S1_BENCH_SMALL=$QUICK \
  timeout 300 "$EPOCH_BIN" --bench --noplot
