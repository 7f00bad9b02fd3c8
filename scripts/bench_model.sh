#!/usr/bin/env bash
# The incremental-model benchmark (docs/incremental.md): builds the Release
# preset and runs chutoro_model_bench with 2 threads, 3 repeats and the 1M-item
# model, writing the measured tables into docs/incremental.md between the
# "measured" markers. Extra arguments go to chutoro_model_bench.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
out=$(mktemp)
build/release/bench/model/chutoro_model_bench --threads 2 --repeats 3 --million --out "$out" "$@"
python3 - "$out" <<'PY'
import sys, platform, os, datetime
table = open(sys.argv[1]).read()
doc = open("docs/incremental.md").read()
start, end = "<!-- measured:start -->", "<!-- measured:end -->"
head, rest = doc.split(start)
_, tail = rest.split(end)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
load = os.getloadavg()
stamp = (f"Measured {datetime.date.today()} on {cpu}, {os.cpu_count()} cores, "
         f"load average at the end {load[0]:.2f}; 2 threads, medians of 3.\n\n")
open("docs/incremental.md", "w").write(head + start + "\n" + stamp + table + end + tail)
PY
rm -f "$out"
echo "docs/incremental.md updated"
