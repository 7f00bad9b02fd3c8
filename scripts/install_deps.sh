#!/usr/bin/env bash
# Installs every system package chutoro needs to build and test (Debian/Ubuntu).
# Idempotent: installs only what is missing. Needs root or sudo when something is.
set -euo pipefail
packages=(cmake ninja-build g++ pkg-config
          libcli11-dev nlohmann-json3-dev libhwy-dev libxxhash-dev zlib1g-dev libzstd-dev
          libgtest-dev libgmock-dev librapidcheck-dev libbenchmark-dev
          python3 python3-venv python3-dev
          clang libomp-14-dev   # clang + libomp with libarcher: the ThreadSanitizer build
          libclang-rt-14-dev    # libFuzzer and the sanitizer runtimes: scripts/fuzz.sh
          openmpi-bin libopenmpi-dev)  # distributed runs and their tests (CHUTORO_WITH_MPI=AUTO; optional)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "chutoro: installing ${missing[*]}" >&2
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
