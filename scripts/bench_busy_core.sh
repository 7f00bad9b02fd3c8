#!/usr/bin/env bash
# Busy-core benchmark of the HNSW graph stage (issue 13, item 5; team.hpp's
# adaptive width): for each size (default 30k and 100k x 128 blobs from
# bench/compare/datasets.py), runs `chutoro cluster --candidates hnsw` with
# --threads 1 and 2, quiet and with `yes > /dev/null` beside it, interleaved,
# RUNS times each, and prints the median graph-stage seconds and the ratios.
# Usage: scripts/bench_busy_core.sh [RUNS=5] [SIZES="30000 100000"]
# Needs build/release/chutoro (scripts/build.sh) and a python with numpy
# (.venv from scripts/python_env.sh, or python3). Run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
sizes=${2:-"30000 100000"}
bin=build/release/chutoro
py=.venv/bin/python
[ -x "$py" ] || py=python3
[ -x "$bin" ] || { echo "no $bin: run scripts/build.sh" >&2; exit 1; }
dir=build/bench_busy
mkdir -p "$dir"
for n in $sizes; do
  f="$dir/blobs_${n}_128.npy"
  [ -f "$f" ] || "$py" -c "
import sys; sys.path.insert(0, '.')
import numpy as np
from bench.compare import datasets
X, _ = datasets.make_blobs($n, 128, 128000 + $n // 1000)
np.save('$f', X)"
done
graph_s() {  # file threads -> graph-stage seconds
  "$bin" cluster "$1" --candidates hnsw --threads "$2" --json --quiet |
    "$py" -c "import json, sys; print(json.load(sys.stdin)['seconds']['graph'])"
}
for n in $sizes; do
  f="$dir/blobs_${n}_128.npy"
  res="$dir/times_$n.txt"
  : >"$res"
  for r in $(seq 1 "$runs"); do
    for load in quiet busy; do
      yes_pid=
      if [ $load = busy ]; then
        yes >/dev/null &
        yes_pid=$!
      fi
      for t in 1 2; do echo "$load $t $(graph_s "$f" $t)" >>"$res"; done
      if [ -n "$yes_pid" ]; then kill "$yes_pid"; wait "$yes_pid" 2>/dev/null || true; fi
    done
  done
  "$py" - "$res" "$n" "$runs" <<'PY'
import sys, statistics, os
rows = [l.split() for l in open(sys.argv[1])]
med = {(l, int(t)): statistics.median(float(s) for L, T, s in rows if (L, int(T)) == (l, int(t)))
       for l, t, _ in rows}
print(f"{sys.argv[2]} x 128, graph stage, medians of {sys.argv[3]} (load average now {os.getloadavg()[0]:.2f}):")
for l in ("quiet", "busy"):
    print(f"  {l:5}: 1 thread {med[(l,1)]:.2f} s, 2 threads {med[(l,2)]:.2f} s, "
          f"2 threads / 1 thread = {med[(l,2)]/med[(l,1)]:.2f}, speed-up {med[(l,1)]/med[(l,2)]:.2f}x")
PY
done
