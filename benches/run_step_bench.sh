#!/usr/bin/env bash
# Runs the supernet training-step benchmark in Rust (tch, crates/supernet/benches/step.rs) and in
# PyTorch eager (benches/pytorch/supernet_step.py) in one go and prints a table.
#
#   benches/run_step_bench.sh [--device cpu|cuda] [--threads 2] [--batch 96] [--steps 10]
#                             [--warmup 3] [--space 3] [--variants parity,shared,fused,frozen,channels-last|all]
#                             [--channels-last  (also time PyTorch with channels-last tensors)]
#
# Environment: PYTHON (default .torch/bin/python), BENCH_BIN (a prebuilt step-bench binary, for
# machines without cargo, e.g. a GPU box; otherwise `cargo bench` builds and runs it).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DEVICE=cpu THREADS=2 BATCH=96 STEPS=10 WARMUP=3 SPACE=3 VARIANTS=all CHANNELS_LAST=0
while [ $# -gt 0 ]; do
  case "$1" in
    --channels-last) CHANNELS_LAST=1; shift; continue ;;
    --variants) VARIANTS=$2 ;;
    --device) DEVICE=$2 ;;
    --threads) THREADS=$2 ;;
    --batch) BATCH=$2 ;;
    --steps) STEPS=$2 ;;
    --warmup) WARMUP=$2 ;;
    --space) SPACE=$2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift 2
done
COMMON=(--device "$DEVICE" --threads "$THREADS" --batch "$BATCH" --steps "$STEPS" --warmup "$WARMUP" --space "$SPACE")

if [ -z "${BENCH_BIN:-}" ]; then
  # shellcheck source=/dev/null
  source "$ROOT/scripts/env.sh"
fi
PYTHON=${PYTHON:-$ROOT/.torch/bin/python}
if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
  # The project venv is a minimal libtorch install for building; `import torch` additionally
  # needs torch's Python dependencies and the CUDA libraries libtorch_python links against.
  echo "[bench] installing torch's Python dependencies into the venv of $PYTHON" >&2
  "$(dirname "$PYTHON")/pip" install -q torch==2.11.0 >&2
fi

OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
echo "[bench] PyTorch eager reference" >&2
"$PYTHON" -W ignore benches/pytorch/supernet_step.py "${COMMON[@]}" | tee -a "$OUT" >&2
if [ "$CHANNELS_LAST" = 1 ]; then
  "$PYTHON" -W ignore benches/pytorch/supernet_step.py "${COMMON[@]}" --channels-last | tee -a "$OUT" >&2
fi
echo "[bench] tch" >&2
if [ -n "${BENCH_BIN:-}" ]; then
  "$BENCH_BIN" "${COMMON[@]}" --variants "$VARIANTS" | tee -a "$OUT" >&2
else
  cargo bench -q -p supernet --bench step -- "${COMMON[@]}" --variants "$VARIANTS" | tee -a "$OUT" >&2
fi

echo
echo "space $SPACE supernet, batch $BATCH, $DEVICE, $THREADS threads; median of $STEPS steps after $WARMUP warm-up (arch step + weight step)"
printf '| %-22s | %10s | %9s | %9s | %11s |\n' implementation params "median ms" "min ms" "CPU ms/step"
printf '|%s|%s|%s|%s|%s|\n' ------------------------ ------------ ----------- ----------- -------------
grep '^RESULT' "$OUT" | while read -r _ rest; do
  declare -A kv=()
  for pair in $rest; do kv[${pair%%=*}]=${pair#*=}; done
  printf '| %-22s | %10s | %9s | %9s | %11s |\n' "${kv[impl]}" "${kv[params]}" "${kv[median_ms]}" "${kv[min_ms]}" "${kv[cpu_ms]}"
done
