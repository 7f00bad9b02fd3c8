#!/usr/bin/env bash
# One command from a fresh clone: install dependencies, build, and cluster a
# real data set (UCI handwritten digits, ../shared/data/digits.csv), printing
# a summary scored against the ground-truth label column. With
# CHUTORO_PYTHON_DEMO=1 it then sets up .venv (scripts/python_env.sh) and runs
# the same clustering from Python (examples/python/quickstart.py).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
data="${CHUTORO_DATA_DIR:-../shared/data}"
build/release/chutoro cluster "$data/digits.csv" --label-column label "$@"
if [ "${CHUTORO_PYTHON_DEMO:-0}" = 1 ]; then
  scripts/python_env.sh >/dev/null
  .venv/bin/python examples/python/quickstart.py "$data/digits.csv"
fi
