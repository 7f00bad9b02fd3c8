#!/usr/bin/env bash
# Creates (or updates) the virtual environment .venv in the repository root and
# installs the Python package chutoro into it with its test/comparison extra
# (numpy, scikit-learn, hdbscan, fishdbc, pytest, hypothesis, matplotlib, pandas,
# scipy, pyarrow).
# The extension is built by scikit-build-core in build/python (kept between
# runs, so a rebuild is incremental). Needs python3 >= 3.10 with venv and its
# headers (scripts/install_deps.sh installs python3-venv and python3-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
if [ -x .venv/bin/python ] && ! .venv/bin/python -c "import sys" >/dev/null 2>&1; then
  rm -rf .venv  # left by another interpreter
fi
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# The build backend goes into the venv itself (no isolated build env), so the
# CMake cache in build/python keeps pointing at the same nanobind.
.venv/bin/python -m pip install -q "scikit-build-core>=0.10" "nanobind>=2.0"
.venv/bin/python -m pip install -q --no-build-isolation -Cbuild-dir=build/python ".[test]"
# mpi4py for the distributed Python door (fit(..., comm=); tests/python/test_distributed.py),
# where MPI is installed (scripts/install_deps.sh: Open MPI). A binary wheel from PyPI that
# loads the system's libmpi at run time (about 5 s to install); chutoro itself never needs it.
if command -v mpirun >/dev/null 2>&1; then
  .venv/bin/python -m pip install -q "mpi4py>=4.0"
fi
.venv/bin/python -c "import chutoro; print('chutoro', chutoro.__version__, 'installed in .venv')"
