#!/usr/bin/env bash
# Optional: makes the Python venv build/arrow-venv holding pyarrow, whose wheel
# ships Apache Arrow's C++ libraries (libarrow, libparquet) and headers. CMake
# (cmake/arrow.cmake, CHUTORO_WITH_ARROW=AUTO) finds it there and builds the
# Parquet / Arrow IPC readers. Idempotent and fast when the venv is ready.
# Never fails the caller: without network or pip, chutoro builds without Arrow
# and says so (`chutoro cluster x.parquet` then reports that Parquet support
# was not built). Override the version with CHUTORO_PYARROW_SPEC.
set -uo pipefail
cd "$(dirname "$0")/.."
venv=build/arrow-venv
spec="${CHUTORO_PYARROW_SPEC:-pyarrow>=14}"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import pyarrow" 2>/dev/null; then
  exit 0
fi
python=$(command -v python3 || true)
if [ -z "$python" ]; then
  echo "chutoro: arrow_env: no python3; building without Arrow/Parquet support" >&2
  exit 0
fi
echo "chutoro: arrow_env: installing $spec into $venv (Arrow C++ for the Parquet/Arrow readers)" >&2
mkdir -p build
if ! { [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"; } ||
   ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$spec"; then
  echo "chutoro: arrow_env: could not install $spec; building without Arrow/Parquet support" >&2
  rm -rf "$venv"
fi
exit 0
