#!/usr/bin/env bash
# Builds, here, what the GPU check (scripts/gpu_check.sh) runs on a GPU
# machine that has the NVIDIA driver but none of this build's -dev packages:
# build/gpu-bundle/, at most 64 MiB, holding
#   bin/   chutoro, chutoro_tests, chutoro_cuda_bench and libchutoro_cuda.so
#          (the module next to the executables, where the loader looks)
#   tests/ the loader tests' stand-in modules
#   lib/   the shared libraries they need that such a machine may lack (ldd:
#          everything but glibc; libhwy, ...)
#   lib/fallback/  the compiler's runtime (libstdc++, libgcc_s, libgomp),
#          used there only when the machine's own are missing or too old
#   MANIFEST.txt   commit, architectures, the newest glibc symbol needed, sizes
# Release, CHUTORO_WITH_CUDA=ON, code for sm_90 (+ compute_90 PTX) only
# (CHUTORO_GPU_ARCH overrides), in build/gpu. Then, on the GPU machine, from
# the repository root (build/gpu-bundle travels as a carried path):
#   scripts/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/gpu
bundle=build/gpu-bundle
arch="${CHUTORO_GPU_ARCH:-90}"
limit_mib=64

if command -v ccache >/dev/null 2>&1; then
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CUDA_COMPILER_LAUNCHER=ccache
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCHUTORO_WITH_CUDA=ON \
  -DCHUTORO_CUDA_ARCHITECTURES="$arch" -DCHUTORO_WITH_ARROW=OFF -DCHUTORO_BUILD_BENCH=OFF \
  -DCHUTORO_BUILD_PYTHON=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target chutoro_cli chutoro_tests chutoro_cuda chutoro_cuda_bench \
  chutoro_test_fake_cuda chutoro_test_no_entry

rm -rf "$bundle"
mkdir -p "$bundle/bin" "$bundle/tests" "$bundle/lib/fallback"
cp "$build/chutoro" "$build/chutoro_cuda_bench" "$build/libchutoro_cuda.so" "$build/tests/chutoro_tests" "$bundle/bin/"
cp "$build/tests/libchutoro_test_fake_cuda.so" "$build/tests/libchutoro_test_no_entry.so" "$bundle/tests/"
strip --strip-unneeded "$bundle"/bin/* "$bundle"/tests/*.so

# The shared libraries, by ldd: glibc's stay behind (the machine's own), the
# compiler's runtime goes to lib/fallback, the rest to lib.
ldd "$bundle"/bin/* "$bundle"/tests/*.so | awk '/=> \// { print $1, $3 }' | sort -u |
  while read -r name path; do
    case "$name" in
      linux-vdso* | ld-linux* | libc.so* | libm.so* | libdl.so* | libpthread.so* | librt.so* | libresolv.so*) ;;
      libstdc++.so* | libgcc_s.so* | libgomp.so*) cp -L "$path" "$bundle/lib/fallback/$name" ;;
      *) cp -L "$path" "$bundle/lib/$name" ;;
    esac
  done
if LD_LIBRARY_PATH="$bundle/lib" ldd "$bundle"/bin/* | grep -q "not found"; then
  echo "gpu_bundle.sh: a library is missing from the bundle:" >&2
  LD_LIBRARY_PATH="$bundle/lib" ldd "$bundle"/bin/* | grep "not found" >&2
  exit 1
fi

glibc_needed=$(objdump -T "$bundle"/bin/* "$bundle"/lib/*.so* 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
size_kib=$(du -sk "$bundle" | cut -f1)
{
  echo "chutoro GPU bundle (scripts/gpu_bundle.sh)"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m), $(ldd --version | head -1)"
  echo "cuda architectures: $arch"
  echo "module: $("$bundle/bin/chutoro" devices --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["module_build"])')"
  echo "newest glibc symbol needed: ${glibc_needed:-none}"
  echo "size: $((size_kib / 1024)) MiB"
  (cd "$bundle" && find . -type f | sort | xargs ls -l | awk '{ print "  " $5 "\t" $9 }')
} >"$bundle/MANIFEST.txt"
cat "$bundle/MANIFEST.txt"
if [ "$size_kib" -gt $((limit_mib * 1024)) ]; then
  echo "gpu_bundle.sh: the bundle is $((size_kib / 1024)) MiB, more than the $limit_mib MiB that can travel" >&2
  exit 1
fi
echo "bundle ready: $bundle ($((size_kib / 1024)) MiB); on the GPU machine: scripts/gpu_check.sh"
