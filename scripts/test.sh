#!/usr/bin/env bash
# One command runs the whole test suite: install dependencies, build (Release),
# then every GoogleTest/RapidCheck test through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/arrow_env.sh  # optional Arrow C++ (pyarrow wheel) for the Parquet/Arrow readers
scripts/build.sh
ctest --preset release "$@"
