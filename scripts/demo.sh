#!/usr/bin/env bash
# The main job of the quick start: a short, real one-shot architecture search end to end (CIFAR-10
# import, supernet training on CPU, anytime NAS-Bench-101 evaluation every epoch, report).
# Extra arguments go to `nb1s1 demo` (see `nb1s1 demo --help`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
# The test profile (optimized, see Cargo.toml) shares its build with scripts/test.sh. `nb1s1`
# hands `demo` over to `nb1s1-torch`, built next to it.
cargo build --profile test --quiet -p nb1s1 -p nb1s1-torch
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
exec "$target_dir/debug/nb1s1" demo "$@"
