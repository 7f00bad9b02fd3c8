#!/usr/bin/env bash
# Side-by-side benchmark of chutoro against fishdbc, hdbscan, sklearn.cluster.HDBSCAN,
# fast_hdbscan and (graph stage) hnswlib; writes docs/benchmarks.md and docs/benchmarks.png.
#
#   scripts/bench.sh --quick                       # small grid, checks the harness
#   scripts/bench.sh                               # the whole grid (hours on 2 cores)
#   scripts/bench.sh --only blobs_100k_128 --tools chutoro,hnswlib
#   scripts/bench.sh --targets                     # the speed/memory targets (bench/compare/targets.py)
#   scripts/bench.sh --help                        # every option (cap, repeats, threads, ...)
#
# Creates the virtual environment bench/.venv (git-ignored) with the peers from PyPI,
# builds the CLI (scripts/build.sh -> build/release/chutoro), then runs bench/compare/run.py.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
venv=bench/.venv
if [ -x "$venv/bin/python" ] && ! "$venv/bin/python" -c "import sys" >/dev/null 2>&1; then
  rm -rf "$venv"  # left by another interpreter
fi
if [ ! -x "$venv/bin/python" ]; then
  scripts/install_deps.sh
  "$python" -m venv "$venv"
fi
stamp="$venv/.peers-installed"
if [ ! -f "$stamp" ]; then
  "$venv/bin/python" -m pip install -q --upgrade pip
  # The peers, as a user gets them from PyPI, plus what the harness needs.
  "$venv/bin/python" -m pip install -q numpy matplotlib scikit-learn hdbscan fishdbc \
      "fast_hdbscan[nndescent]" pynndescent hnswlib rapidfuzz
  touch "$stamp"
fi
scripts/build.sh
if [ "${1:-}" = "--targets" ]; then
  shift
  exec "$venv/bin/python" bench/compare/targets.py "$@"
fi
exec "$venv/bin/python" bench/compare/run.py "$@"
