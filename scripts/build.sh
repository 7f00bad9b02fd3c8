#!/usr/bin/env bash
# Installs dependencies and builds chutoro (Release preset: build/release).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
