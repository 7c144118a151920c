#!/usr/bin/env bash
# The Python half of the test suite: builds the nb1s1 wheel (maturin, dev profile with the
# engine optimised like its dependencies: quick to build, fast enough to test),
# installs it into the git-ignored .pyenv-nb1s1/ with numpy, pandas, ConfigSpace and pytest, and runs
# crates/python/tests. Installs what is missing itself; safe to run repeatedly.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=${NB1S1_PYENV:-.pyenv-nb1s1}
REQS="maturin>=1.9.4,<2 numpy pandas pytest ConfigSpace"
if [ ! -f "$VENV/.ok" ] || [ "$(cat "$VENV/.ok")" != "$REQS" ]; then
  echo "[setup] creating $VENV ($REQS)" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV" || { echo "[setup] python3 -m venv failed (apt-get install python3-venv)" >&2; exit 1; }
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install -q --disable-pip-version-check $REQS
  echo "$REQS" > "$VENV/.ok"
fi

rm -rf target/wheels/nb1s1-*.whl
OPT=()
for crate in nasbench101 searchspace blackbox; do OPT+=(--config "profile.dev.package.$crate.opt-level=2"); done
"$VENV/bin/maturin" build --quiet --strip "${OPT[@]}" -m crates/python/Cargo.toml --out target/wheels
"$VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps target/wheels/nb1s1-*.whl
# Run from outside the source tree so the installed wheel, not crates/python/python, is tested.
(cd "$VENV" && bin/python -m pytest -q -p no:cacheprovider "$OLDPWD/crates/python/tests" "$@")
