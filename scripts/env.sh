# Sourced by the quick-start scripts: installs what a fresh Debian/Ubuntu machine lacks (g++, the
# pinned torch==2.11.0 wheel, minimal CPU install) into project-local, git-ignored folders and
# exports the libtorch build and run environment. Safe to source repeatedly: it only does work once.
# shellcheck shell=bash

NB1S1_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export NB1S1_ROOT

if ! command -v g++ >/dev/null 2>&1; then
  echo "[setup] installing g++ (needed to build torch-sys)" >&2
  apt-get update -qq && apt-get install -y -qq g++ >/dev/null
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "[setup] cargo not found: install Rust (https://rustup.rs) first" >&2
  return 1 2>/dev/null || exit 1
fi

TORCH_VENV=${TORCH_VENV:-$NB1S1_ROOT/.torch}
if [ ! -f "$TORCH_VENV/.ok" ]; then
  echo "[setup] installing torch==2.11.0 (minimal CPU install, ~540 MB) into $TORCH_VENV" >&2
  rm -rf "$TORCH_VENV"
  python3 -m venv "$TORCH_VENV" || { echo "[setup] python3 -m venv failed (apt-get install python3-venv)" >&2; return 1 2>/dev/null || exit 1; }
  "$TORCH_VENV/bin/pip" install -q --disable-pip-version-check --no-deps torch==2.11.0 \
    nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85 \
    || { echo "[setup] pip install of torch==2.11.0 failed" >&2; return 1 2>/dev/null || exit 1; }
  touch "$TORCH_VENV/.ok"
fi
TORCH_SITE=$("$TORCH_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
export LIBTORCH="$TORCH_SITE/torch" LIBTORCH_CXX11_ABI=1
unset LIBTORCH_USE_PYTORCH LIBTORCH_BYPASS_VERSION_CHECK
export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
