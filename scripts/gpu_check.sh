#!/usr/bin/env bash
# The GPU check of the CUDA module (issue 11), one command on a GPU machine,
# from the repository root, within about 8 minutes:
#   1. nvidia-smi, and `chutoro devices` / `chutoro --version`;
#   2. the GPU tests: chutoro_tests --gtest_filter='Cuda*' (loader, module,
#      the forest and the exact mode on the GPU against the CPU, out of
#      device memory);
#   3. compute-sanitizer --tool memcheck on small cases (the forest tests, a
#      200k-edge forest benchmark run, a 2000-row exact benchmark run);
#   4. the GPU-vs-CPU benchmarks: chutoro_cuda_bench, the forest of 100M
#      edges over 10M items; the exact mode (GPU exact HDBSCAN* vs the CPU
#      exact mode) on 100k x 128 and 400k x 15 blobs, the CPU on the first
#      50k / 100k rows (its O(n^2) would take minutes; the bench extrapolates,
#      labelled as such); GPU kNN candidates (issue 12, candidates = knn):
#      ARI vs the GPU exact stage at 1M x 32, and the 10M x 32 target (under
#      120 s), each step cut at 300 s (so the whole check may take up to 18
#      minutes where these run long; never run: no GPU was at hand).
# It runs the bundle scripts/gpu_bundle.sh built (build/gpu-bundle, or
# CHUTORO_GPU_BUNDLE): on the device machine, carry that folder. Results go to
# $OUT (else build/gpu-check): gpu_results.txt (everything, as it ran) and
# gpu_results.json (the summary). Without a GPU it still runs the tests (the
# GPU ones skip, saying why), reports "no GPU: <reason>" and exits 0.
# Exit status: 0 when every step that ran passed, 1 otherwise, 2 without a bundle.
set -uo pipefail
cd "$(dirname "$0")/.."
bundle="${CHUTORO_GPU_BUNDLE:-build/gpu-bundle}"
out="${OUT:-build/gpu-check}"
mkdir -p "$out"
txt="$out/gpu_results.txt"
json="$out/gpu_results.json"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
: >"$txt"

say() { echo "$*" | tee -a "$txt"; }
# step NAME SECONDS CMD...: runs CMD with a time limit, its output into the
# results file and $work/NAME.log; prints the status.
step() {
  local name="$1" limit="$2"
  shift 2
  say ""
  say "==== $name: $* (limit ${limit}s)"
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" >"$work/$name.log" 2>&1
  local rc=$?
  cat "$work/$name.log" >>"$txt"
  echo "$rc" >"$work/$name.rc"
  echo "$((SECONDS - t0))" >"$work/$name.seconds"
  say "---- $name: exit status $rc after $((SECONDS - t0)) s$([ "$rc" = 124 ] && echo ' (time limit)')"
  return 0
}

# sampled_step NAME SECONDS CMD...: step, with nvidia-smi sampling the GPU's
# memory.used (MiB) every 100 ms into $work/NAME.mem while it runs (the kNN
# steps: their device memory, beside the plan the benchmark prints).
sampled_step() {
  local name="$1" sampler=""
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 >"$work/$name.mem" 2>/dev/null &
    sampler=$!
  fi
  step "$@"
  if [ -n "$sampler" ]; then
    kill "$sampler" 2>/dev/null
    wait "$sampler" 2>/dev/null
  fi
  return 0
}

if [ ! -x "$bundle/bin/chutoro_tests" ]; then
  echo "gpu_check.sh: no bundle at $bundle: run scripts/gpu_bundle.sh first (here), and carry $bundle to the GPU machine" >&2
  exit 2
fi
bundle="$(cd "$bundle" && pwd)"
bin="$bundle/bin"

# The bundle's libraries; the compiler runtime only if the machine's own do not do.
export LD_LIBRARY_PATH="$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if ! "$bin/chutoro" --help >/dev/null 2>"$work/start.err"; then
  export LD_LIBRARY_PATH="$bundle/lib/fallback:$LD_LIBRARY_PATH"
  runtime_note="the machine's C++ runtime did not do ($(head -c 300 "$work/start.err")): using the bundle's"
else
  runtime_note="the machine's own C++ runtime"
fi
export CHUTORO_TEST_CUDA_MODULE="$bin/libchutoro_cuda.so"
export CHUTORO_TEST_FAKE_CUDA="$bundle/tests/libchutoro_test_fake_cuda.so"
export CHUTORO_TEST_NO_ENTRY="$bundle/tests/libchutoro_test_no_entry.so"
unset CHUTORO_CUDA_LIBRARY  # the check finds the module as chutoro does

say "chutoro GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -n), $(uname -m), $(nproc) cores"
say "glibc: $(ldd --version 2>/dev/null | head -1); C++ runtime: $runtime_note"
sed 's/^/bundle: /' "$bundle/MANIFEST.txt" | head -7 | tee -a "$txt"

# 1. The machine and what chutoro sees.
if command -v nvidia-smi >/dev/null 2>&1; then
  step nvidia_smi 60 nvidia-smi
else
  say ""
  say "==== nvidia_smi: not found"
fi
step devices 60 "$bin/chutoro" devices
step devices_json 60 "$bin/chutoro" devices --json
step version 60 "$bin/chutoro" --version
gpu=$(python3 -c 'import json,sys; print("yes" if json.load(open(sys.argv[1])).get("devices") else "no")' \
  "$work/devices_json.log" 2>/dev/null || echo no)

# 2. The GPU tests (they skip, saying why, without a GPU).
step tests 150 "$bin/chutoro_tests" --gtest_filter='Cuda*' --gtest_output="json:$work/gtest.json"

# 3. memcheck on a small case; 4. the benchmark. Only with a GPU.
sanitizer=""
for c in compute-sanitizer "${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer" /usr/local/cuda/bin/compute-sanitizer; do
  if command -v "$c" >/dev/null 2>&1; then sanitizer="$(command -v "$c")"; break; fi
done
if [ "$gpu" = yes ]; then
  if [ -n "$sanitizer" ]; then
    step memcheck_tests 150 "$sanitizer" --tool memcheck --error-exitcode 9 --leak-check full \
      "$bin/chutoro_tests" --gtest_filter='CudaGpu.ForestEdgeCases:CudaGpu.ForestIsRepeatable'
    step memcheck_bench 120 "$sanitizer" --tool memcheck --error-exitcode 9 \
      "$bin/chutoro_cuda_bench" --edges 200000 --items 20000 --runs 1
    step memcheck_exact 90 "$sanitizer" --tool memcheck --error-exitcode 9 \
      "$bin/chutoro_cuda_bench" exact --rows 2000 --dim 16 --min-samples 5 --cpu-rows 2000
  else
    say ""
    say "==== memcheck: compute-sanitizer not found (looked on PATH and in \$CUDA_HOME/bin, /usr/local/cuda/bin)"
  fi
  step benchmark 300 "$bin/chutoro_cuda_bench" --edges 100000000 --items 10000000 --runs 3
  step exact_100k_128 120 "$bin/chutoro_cuda_bench" exact --rows 100000 --dim 128 --centers 20 \
    --min-samples 10 --cpu-rows 50000
  step exact_400k_15 120 "$bin/chutoro_cuda_bench" exact --rows 400000 --dim 15 --centers 20 \
    --min-samples 10 --cpu-rows 100000
  # GPU kNN candidates: ARI vs GPU exact at 1M x 32, then the 10M x 32 target (120 s).
  # Each prints planned_device_bytes (knn_plan.hpp: 1M x 32 at min_samples 10:
  # about 380 MiB; 10M x 32: about 3,800 MiB, an eighth for Thrust included);
  # nvidia-smi samples the device memory used meanwhile (the 1M step also runs
  # the GPU exact stage for the ARI).
  sampled_step knn_1M_32 300 "$bin/chutoro_cuda_bench" knn --rows 1000000 --dim 32 --centers 20 \
    --min-samples 10 --exact-rows 1000000
  sampled_step knn_10M_32 300 "$bin/chutoro_cuda_bench" knn --rows 10000000 --dim 32 --centers 20 \
    --min-samples 10 --exact-rows 0
else
  say ""
  say "no GPU: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["reason"])' "$work/devices_json.log" 2>/dev/null || cat "$work/devices.log")"
  say "(memcheck and the benchmark need one: skipped)"
fi

# The summary.
python3 - "$work" "$json" "$gpu" "$sanitizer" <<'EOF' | tee -a "$txt"
import json, os, re, sys

work, path, gpu, sanitizer = sys.argv[1], sys.argv[2], sys.argv[3] == "yes", sys.argv[4]

def read(name, ext):
    p = os.path.join(work, f"{name}.{ext}")
    return open(p).read() if os.path.exists(p) else None

def status(name):
    rc = read(name, "rc")
    return None if rc is None else {"exit_status": int(rc), "seconds": int(read(name, "seconds"))}

def last_json_line(text):
    for line in reversed((text or "").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                pass
    return None

summary = {"gpu": gpu}
devices = last_json_line(read("devices_json", "log")) or {}
summary["devices"] = devices.get("devices", [])
summary["reason"] = devices.get("reason")
summary["module_build"] = devices.get("module_build")
summary["version"] = (read("version", "log") or "").strip().splitlines()
tests = status("tests") or {}
gtest_path = os.path.join(work, "gtest.json")
if os.path.exists(gtest_path):
    g = json.load(open(gtest_path))
    cases = [c for s in g.get("testsuites", []) for c in s.get("testsuite", [])]
    tests["passed"] = sum(1 for c in cases if c.get("result") == "COMPLETED" and not c.get("failures"))
    tests["failed"] = [c["classname"] + "." + c["name"] for c in cases if c.get("failures")]
    tests["skipped"] = [c["classname"] + "." + c["name"] for c in cases if c.get("result") == "SKIPPED"]
summary["tests"] = tests
memcheck = {}
for name in ("memcheck_tests", "memcheck_bench", "memcheck_exact"):
    s = status(name)
    if s is None:
        continue
    log = read(name, "log") or ""
    m = re.search(r"ERROR SUMMARY: (\d+) error", log)
    s["errors"] = int(m.group(1)) if m else None
    # The tool itself refusing the machine (seen under gVisor) is no finding about chutoro.
    refused = re.search(r"^.*(Device not supported|Unable to find injection library|Target application "
                        r"terminated before first instrumented API call).*$", log, re.M)
    if refused and s["errors"] in (None, 0):
        s["refused"] = refused.group(0).strip()
    memcheck[name] = s
if gpu and not sanitizer:
    memcheck["skipped"] = "compute-sanitizer not found"
summary["memcheck"] = memcheck or None
bench = status("benchmark")
if bench is not None:
    bench["result"] = last_json_line(read("benchmark", "log"))
summary["benchmark"] = bench
exact = {}
for name in ("exact_100k_128", "exact_400k_15"):
    s = status(name)
    if s is not None:
        s["result"] = last_json_line(read(name, "log"))
        exact[name] = s
summary["exact"] = exact or None
knn = {}
for name in ("knn_1M_32", "knn_10M_32"):
    s = status(name)
    if s is not None:
        s["result"] = last_json_line(read(name, "log"))
        # nvidia-smi's memory.used samples (MiB, the whole device: the CUDA
        # context and other processes included): the first, the peak, the rise.
        mem = [int(x) for x in (read(name, "mem") or "").split() if x.strip().isdigit()]
        if mem:
            s["memory_used_mib"] = {"first": mem[0], "peak": max(mem), "rise": max(mem) - mem[0],
                                    "samples": len(mem)}
        knn[name] = s
summary["knn"] = knn or None

ok = tests.get("exit_status") == 0
for s in memcheck.values():
    if isinstance(s, dict) and "refused" not in s:
        ok = ok and s["exit_status"] == 0 and s["errors"] == 0
if bench is not None:
    ok = ok and bench["exit_status"] == 0
for s in exact.values():
    ok = ok and s["exit_status"] == 0
for s in knn.values():
    ok = ok and s["exit_status"] == 0
summary["ok"] = ok
json.dump(summary, open(path, "w"), indent=1)

print()
print("==== summary")
print("gpu:", "yes, " + ", ".join(d["name"] for d in summary["devices"]) if gpu else "no GPU: " + str(summary["reason"]))
print("tests:", tests.get("exit_status"), "exit status;", tests.get("passed"), "passed;",
      len(tests.get("failed", [])), "failed", tests.get("failed") or "", ";",
      len(tests.get("skipped", [])), "skipped")
for name, s in memcheck.items():
    print(f"{name}:", s)
if bench and bench.get("result"):
    r = bench["result"]
    print(f"benchmark: {r['edges']} edges / {r['items']} items: CPU {r['cpu_median_seconds']:.3f} s "
          f"({r['cpu_threads']} threads), GPU {r['gpu_median_seconds']:.3f} s, speedup {r['speedup']:.2f}x, "
          f"same forest {r['same_forest']}, same bytes {r['same_bytes']}")
elif bench:
    print("benchmark: failed,", bench)
for name, s in exact.items():
    r = s.get("result")
    if r:
        full = (f"{r['gpu_median_seconds']:.3f} s" if r.get("gpu_median_seconds") is not None
                else "did not finish (time limit)")
        print(f"{name}: GPU exact {r['rows']} x {r['dim']} ({r['metric']}, min_samples {r['min_samples']}) "
              f"{full}; on the first {r['cpu_rows']} rows CPU {r['cpu_median_seconds']:.3f} s "
              f"({r['cpu_threads']} threads) vs GPU {r['gpu_median_seconds_cpu_rows']:.3f} s, speedup "
              f"{r['speedup_cpu_rows']:.2f}x; same labels {r['same_labels']}, same tree {r['same_tree_edges']}, "
              f"weight difference {r['tree_weight_relative_difference']:.2g}")
    else:
        print(f"{name}: failed,", s)
for name, s in knn.items():
    r = s.get("result")
    if r:
        full = (f"{r['gpu_median_seconds']:.3f} s" if r.get("gpu_median_seconds") is not None
                else "did not finish (time limit)")
        print(f"{name}: GPU kNN candidates {r['rows']} x {r['dim']} (min_samples {r['min_samples']}) {full}, "
              f"kNN components {r['knn_components']}; on {r['exact_rows']} rows kNN {r['knn_seconds_exact_rows']:.3f} s "
              f"vs GPU exact {r['exact_seconds_exact_rows']:.3f} s, ARI {r['ari_vs_gpu_exact']}; planned device "
              f"memory {r.get('planned_device_bytes', 0) / 2**20:.0f} MiB (computed), nvidia-smi memory.used "
              f"{s.get('memory_used_mib', 'not sampled')} (measured)")
    else:
        print(f"{name}: failed,", s)
print("ok:", ok)
sys.exit(0 if ok else 1)
EOF
rc=${PIPESTATUS[0]}
echo "results: $txt, $json"
exit "$rc"
