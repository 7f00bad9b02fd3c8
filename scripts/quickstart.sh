#!/usr/bin/env bash
# One command from a fresh clone: install dependencies, build, and cluster a
# real data set (UCI handwritten digits, ../shared/data/digits.csv), printing
# a summary scored against the ground-truth label column.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
data="${CHUTORO_DATA_DIR:-../shared/data}"
exec build/release/chutoro cluster "$data/digits.csv" --label-column label "$@"
