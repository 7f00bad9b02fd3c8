#!/usr/bin/env bash
# Installs a chutoro wheel into a fresh virtual environment with no build tools
# and runs a fit, from a temporary directory outside the repository (so the
# source tree's python/chutoro cannot be imported instead of the wheel).
#
#   scripts/wheel_check.sh dist/chutoro-0.1.0-cp311-cp311-manylinux_2_36_x86_64.whl
#
# chutoro itself comes only from the wheel (--no-index): pip could not build
# it here anyway, since cmake, the compilers and nvcc are kept off the PATH
# (PATH holds the venv's bin and a folder of links to a few system tools).
# Its dependencies (numpy, scikit-learn, scipy, ...) come from pip's cache or
# PyPI. Exits non-zero when the install, the import or the fit fails.
set -euo pipefail
whl="$(realpath "$1")"
wheel_dir="$(dirname "$whl")"
python="$(command -v "${PYTHON:-python3}")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
SECONDS=0
"$python" -m venv "$tmp/venv"
# A PATH with no cmake, c++, gcc, cc, ld or nvcc: only the venv and a folder
# with the few tools pip and Python may call.
mkdir "$tmp/bin"
for tool in sh bash uname ls cat rm mkdir; do
  p=$(command -v "$tool" || true)
  [ -n "$p" ] && ln -s "$p" "$tmp/bin/$tool"
done
export PATH="$tmp/venv/bin:$tmp/bin"
for tool in cmake c++ g++ gcc cc ld nvcc; do
  if command -v "$tool" >/dev/null 2>&1; then
    echo "wheel_check.sh: $tool is on the PATH" >&2
    exit 1
  fi
done
cd "$tmp"
python -m pip install -q --upgrade pip
# The dependencies first (from an index), then chutoro from the wheel alone.
python -m pip install -q "numpy>=1.23" "scikit-learn>=1.6"
python -m pip install -q --no-index --find-links "$wheel_dir" --no-deps "$whl"
python - <<'EOF'
import os
import numpy as np
import chutoro

here = os.path.dirname(chutoro.__file__)
assert "site-packages" in here, f"chutoro imported from {here}, not from the installed wheel"
rng = np.random.default_rng(0)
X = np.vstack([rng.normal(c, 0.3, size=(100, 4)) for c in (0.0, 5.0, 10.0)]).astype(np.float32)
est = chutoro.FISHDBC(min_cluster_size=20, min_samples=5).fit(X)
labels = est.labels_
assert labels.shape == (300,), labels.shape
found = sorted(set(labels.tolist()) - {-1})
assert len(found) == 3, f"expected 3 clusters, got {found}"
# Each generated blob is one cluster.
for i in range(3):
    blob = labels[i * 100:(i + 1) * 100]
    blob = blob[blob >= 0]
    assert len(set(blob.tolist())) == 1, f"blob {i} split: {set(blob.tolist())}"
# The bundled libraries are the ones loaded (auditwheel renamed them and set the
# extension's RPATH), even on this machine, which has the system's copies too.
maps = open("/proc/self/maps").read()
for lib in ("libhwy", "libgomp"):
    paths = {line.split()[-1] for line in maps.splitlines() if lib in line.split()[-1]}
    # (scikit-learn's wheel brings its own libgomp too: the system's must not be used.)
    assert any("/chutoro.libs/" in p for p in paths), (lib, paths)
    assert not any(p.startswith(("/usr/", "/lib")) for p in paths), (lib, paths)
print("wheel fit ok:", chutoro.__version__, "from", here,
      "| devices:", chutoro.devices())
EOF
echo "wheel check: ${SECONDS} s"
