#!/usr/bin/env bash
# One command runs the whole test suite: install dependencies, build (Release),
# every GoogleTest/RapidCheck test through CTest, then the Python package:
# .venv with chutoro and its test extra (scripts/python_env.sh) and pytest
# (tests/python, the whole oracle grids; CHUTORO_FULL_GRID=0 runs a subsample).
# Arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/arrow_env.sh  # optional Arrow C++ (pyarrow wheel) for the Parquet/Arrow readers
scripts/build.sh
ctest --preset release "$@"
scripts/python_env.sh
# The example plugins built above, for chutoro.load_plugin's tests (they skip without them).
export CHUTORO_PLUGIN_DIR="${CHUTORO_PLUGIN_DIR:-$PWD/build/release/examples/plugins}"
# The CLI built above, for the bad-input catalogue (tests/bad_input, test_bad_input_catalogue.py).
export CHUTORO_CLI="${CHUTORO_CLI:-$PWD/build/release/chutoro}"
# pytest exits non-zero (5) when it collects no test, so that cannot pass silently.
.venv/bin/python -m pytest tests/python -q -ra -p no:cacheprovider
