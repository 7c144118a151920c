#!/usr/bin/env bash
# The whole test suite, on a fresh Debian/Ubuntu machine with Rust and Python 3: installs what is
# missing (g++, the pinned torch==2.11.0 wheel into .torch/, Chromium for the report test), then
# checks formatting and lints and runs every test of the workspace, then the Python wheel tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh

if ! command -v chromium >/dev/null 2>&1; then
  echo "[setup] installing Debian's chromium (headless report tests)" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || echo "[setup] WARNING: chromium could not be installed: the browser tests will report SKIPPED (and fail under CI=true)" >&2
fi
if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  echo "[setup] installing Debian's slurm-wlm and munge (the Slurm backend tests' local cluster)" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      slurm-wlm slurm-client munge >/dev/null; } \
    || echo "[setup] WARNING: slurm-wlm/munge could not be installed: the Slurm tests will fail" >&2
fi
if [ ! -d ../shared ]; then
  echo "[setup] WARNING: ../shared is absent: the real-data tests will report SKIPPED (and fail under CI=true)" >&2
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace --no-fail-fast "$@"
# The Python wheel (crates/python): build, install into .pyenv-nb1s1/, pytest.
scripts/python-test.sh
