#!/usr/bin/env bash
# Side-by-side fidelity check of nb1s1's supernet against the original NAS-Bench-1Shot1 code
# (docs/fidelity.md). Fetches nothing: give it a checkout of automl/nasbench-1shot1.
#
#   benches/fidelity/run.sh ORIGINAL_CHECKOUT [compare.py options]
#     --images 16            batch size (CIFAR-10 test images from ../shared/data/cifar10-jpeg.tar.gz,
#     --cifar ARCHIVE         or --random-images for N(0, 1) images)
#     --settings 1000        random architecture-weight settings per space for discretization
#     --spaces 1,2,3 --optimizers darts,pc_darts,gdas,random_ws
#     --work DIR             keep the case folders;  --json FILE   also write the results as JSON
#
# Environment: PYTHON, a Python whose `import torch` works (torch 2.11 as pinned, plus numpy and,
# for CIFAR-10 images, pillow); default $TORCH_VENV/bin/python. OMP_NUM_THREADS (default 2) is
# the thread count of both halves. Prints markdown tables; exits 1 if a check fails.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

if [ $# -lt 1 ] || [ ! -f "$1/optimizers/darts/model_search.py" ]; then
  echo "usage: $0 ORIGINAL_CHECKOUT [options]  (a checkout of automl/nasbench-1shot1)" >&2
  exit 2
fi
ORIGINAL=$(cd "$1" && pwd)
shift

# shellcheck source=/dev/null
source "$ROOT/scripts/env.sh"
PYTHON=${PYTHON:-$TORCH_VENV/bin/python}
if ! "$PYTHON" -c 'import torch, numpy' 2>/dev/null; then
  echo "[fidelity] $PYTHON cannot import torch and numpy. The build venv is a minimal libtorch" >&2
  echo "  install; give PYTHON a Python with torch==2.11.0 and its dependencies, numpy and pillow," >&2
  echo "  e.g. \"$TORCH_VENV/bin/pip\" install torch==2.11.0 numpy pillow" >&2
  exit 2
fi

echo "[fidelity] building the nb1s1 half (crates/supernet, example fidelity)" >&2
cargo build -q -p supernet --example fidelity
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/examples/fidelity

export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} PYTHONDONTWRITEBYTECODE=1
exec "$PYTHON" -W ignore::SyntaxWarning benches/fidelity/compare.py \
  --original "$ORIGINAL" --bin "$BIN" "$@"
