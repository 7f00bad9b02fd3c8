"""Side-by-side benchmark: chutoro (CLI) against fishdbc, hdbscan,
sklearn.cluster.HDBSCAN, fast_hdbscan, and hnswlib for the graph stage alone.

Run through scripts/bench.sh (which creates bench/.venv and builds the CLI):

    scripts/bench.sh --quick                  # small grid, checks the harness
    scripts/bench.sh                          # the whole grid (hours on 2 cores)
    scripts/bench.sh --only blobs_100k_128,letter --tools chutoro,hdbscan
    scripts/bench.sh --report-only            # rewrite docs/ from bench/results/

Every run is a fresh subprocess under a wall-clock cap (--cap, seconds; a run
past it is killed and recorded as "> cap"). The harness measures its wall
time, its peak RSS (os.wait4 on that child: ru_maxrss), and the tool's own fit
time from data in memory to labels (chutoro: seconds.total - seconds.read from
--json; Python peers: timed around fit in the worker). Runs under
--repeat-below seconds are repeated (--repeats in all) and the median kept.
ARI against ground truth (blobs, labelled CSVs) and against chutoro's exact
mode (--candidates exact, HDBSCAN* itself) where n <= --exact-max-n.

Results go to bench/results/<workload>.json (one file per workload; a later
run replaces the entries of the tools it ran and keeps the others), then
report.py writes docs/benchmarks.md and docs/benchmarks.png from all of them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import datasets  # noqa: E402
import machine  # noqa: E402

ROOT = HERE.parents[1]
RESULTS = ROOT / "bench" / "results"
# chutoro-passive: the same CLI run with OMP_WAIT_POLICY=passive (threads sleep at once at a
# barrier instead of spinning): a diagnostic row, since on a shared, oversubscribed machine
# libgomp's default spin-then-sleep wait slows chutoro's batch-synchronised build down.
# chutoro and chutoro-passive run FISHDBC (--candidates hnsw); chutoro-auto the default (--candidates auto).
TOOLS = ["chutoro", "chutoro-passive", "chutoro-auto", "chutoro-exact", "hnswlib", "hdbscan", "sklearn",
         "fast_hdbscan", "fishdbc"]
STRING_TOOLS = {"chutoro", "chutoro-passive", "chutoro-auto", "chutoro-exact", "fishdbc"}


def supports(tool: str, w: datasets.Workload, exact_max_n: int) -> tuple[bool, str]:
    if w.kind == "strings" and tool not in STRING_TOOLS:
        return False, "no levenshtein metric on strings"
    if tool == "chutoro-exact" and w.n > exact_max_n:
        return False, f"exact mode only for n <= {exact_max_n:,} (O(n^2) distances)"
    return True, ""


GNU_TIME = Path("/usr/bin/time")


def run_process(cmd: list[str], cap: float, env: dict) -> dict:
    """Runs cmd in its own process group; returns wall, peak RSS, rc, timed_out, stdout, stderr.

    Peak RSS: Linux counts in a child's ru_maxrss the RSS it had before exec, which after a
    fork (or vfork) from this orchestrator is the orchestrator's own (~130 MiB with numpy and
    scikit-learn loaded). So the command runs under GNU time (`/usr/bin/time -f %M`, a ~2 MiB
    process), which reports its own child's ru_maxrss; without it, wait4's value is used and
    is only an upper bound."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(prefix="chutoro-bench-rss-") as rss:
        if GNU_TIME.exists():
            cmd = [str(GNU_TIME), "-f", "%M", "-o", rss.name] + cmd
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, start_new_session=True)
        timed_out = False
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - t0 > cap:
                timed_out = True
                os.killpg(p.pid, signal.SIGKILL)
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        peak = None if timed_out else ru.ru_maxrss * 1024  # unknown for a killed run
        if GNU_TIME.exists() and not timed_out:
            lines = Path(rss.name).read_text().split()
            if lines and lines[-1].isdigit():
                peak = int(lines[-1]) * 1024
        return {"wall": wall, "peak_rss_bytes": peak, "rc": p.returncode,
                "timed_out": timed_out, "stdout": out.read().decode(errors="replace"),
                "stderr": err.read().decode(errors="replace")[-2000:]}


def one_run(tool: str, w: datasets.Workload, wdir: Path, args, tmp: Path) -> dict:
    """A single fresh-process run; returns a result dict (labels under key 'labels' if any)."""
    env = dict(os.environ)
    t = str(args.threads)
    env.update(OMP_NUM_THREADS=t, NUMBA_NUM_THREADS=t, OPENBLAS_NUM_THREADS=t, MKL_NUM_THREADS=t)
    if tool == "chutoro-passive":
        env["OMP_WAIT_POLICY"] = "passive"
    if tool.startswith("chutoro"):
        inp = wdir / ("items.txt" if w.kind == "strings" else "X.npy")
        labels_csv = tmp / "labels.csv"
        cmd = [str(args.chutoro), "cluster", str(inp), "--json", "--quiet", "--threads", t,
               "--min-cluster-size", str(args.min_cluster_size), "--min-samples", str(args.min_samples),
               "--metric", w.metric, "--output", str(labels_csv)]
        if w.kind == "strings":
            cmd += ["--format", "lines"]
        cmd += ["--candidates", {"chutoro-exact": "exact", "chutoro-auto": "auto"}.get(tool, "hnsw")]
    else:
        cmd = [sys.executable, str(HERE / "worker.py"), tool, str(wdir), str(tmp),
               "--min-cluster-size", str(args.min_cluster_size), "--min-samples", str(args.min_samples),
               "--threads", t, "--metric", w.metric]
    la0 = os.getloadavg()
    p = run_process(cmd, args.cap, env)
    r = {"process_seconds": p["wall"], "peak_rss_bytes": p["peak_rss_bytes"], "rc": p["rc"],
         "timed_out": p["timed_out"], "loadavg_start": la0, "loadavg_end": os.getloadavg()}
    if p["timed_out"]:
        return r
    if p["rc"] != 0:
        r["error"] = p["stderr"].strip()[-800:]
        return r
    if tool.startswith("chutoro"):
        j = json.loads(p["stdout"])
        s = j["seconds"]
        r.update(fit_seconds=s["total"] - s["read"], seconds=s, clusters=j["clusters"],
                 noise_fraction=j["noise_fraction"], distance_computations=j["distance_computations"],
                 chutoro_peak_rss_bytes=j["peak_rss_bytes"])
        r["labels"] = np.loadtxt(labels_csv, delimiter=",", skiprows=1, usecols=0, dtype=np.int64, ndmin=1)
    else:
        j = json.loads((tmp / "result.json").read_text())
        r["fit_seconds"] = j.pop("fit_seconds")
        r["extra"] = j
        if (tmp / "labels.npy").exists():
            lab = np.load(tmp / "labels.npy")
            r["labels"] = lab
            r["clusters"] = int(len(set(lab.tolist()) - {-1}))
            r["noise_fraction"] = float(np.mean(lab == -1))
    return r


def run_tool(tool: str, w: datasets.Workload, wdir: Path, args) -> dict:
    """Repeats a tool's run (fresh process each) and summarises: median fit time, max peak RSS."""
    runs = []
    labels = None
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="chutoro-bench-") as tmp:
            r = one_run(tool, w, wdir, args, Path(tmp))
        lab = r.pop("labels", None)
        if labels is None:
            labels = lab
        runs.append(r)
        status = ("> cap" if r["timed_out"] else "error" if "error" in r else f"{r['fit_seconds']:.3f} s fit")
        print(f"  {tool:14s} run {i + 1}: {status} (process {r['process_seconds']:.2f} s, "
              f"{(r['peak_rss_bytes'] or 0) / 2**20:.0f} MiB, load {r['loadavg_start'][0]:.2f}->{r['loadavg_end'][0]:.2f})",
              flush=True)
        if r["timed_out"] or "error" in r or r["process_seconds"] >= args.repeat_below:
            break
    ok = [r for r in runs if not r["timed_out"] and "error" not in r]
    summary = {"tool": tool, "runs": runs, "cap_seconds": args.cap, "threads": args.threads}
    if not ok:
        summary["status"] = "timeout" if runs[-1]["timed_out"] else "error"
        if "error" in runs[-1]:
            summary["error"] = runs[-1]["error"]
        return summary, None
    summary["status"] = "ok"
    summary["fit_seconds"] = statistics.median(r["fit_seconds"] for r in ok)
    summary["process_seconds"] = statistics.median(r["process_seconds"] for r in ok)
    summary["peak_rss_bytes"] = max(r["peak_rss_bytes"] for r in ok)
    for k in ("clusters", "noise_fraction", "distance_computations"):
        if k in ok[0]:
            summary[k] = ok[0][k]
    if tool.startswith("chutoro"):
        summary["graph_seconds"] = statistics.median(r["seconds"]["graph"] for r in ok)
    return summary, labels


def ari(a, b) -> float:
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(a, b))


def dominated_timeout(tool: str, w: datasets.Workload, cap: float) -> str | None:
    """Why a blob run would certainly pass the cap, judged from this tool's smaller blob runs:
    it hit the cap on a workload no larger in n and d, or its fit time on a workload of the
    same d times n'/n (no tool here is faster than linear in n) already exceeds the cap."""
    if w.kind != "blobs":
        return None
    for f in RESULTS.glob("blobs_*.json"):
        prev = json.loads(f.read_text())
        pw = prev["workload"]
        e = prev["tools"].get(tool)
        if not e or pw["name"] == w.name or pw["n"] > w.n or pw["d"] > w.d:
            continue
        if e.get("status") == "timeout" and e["cap_seconds"] <= cap:
            return f"not run: > {e['cap_seconds']:.0f} s cap on the smaller {pw['name']}"
        if e.get("status") == "ok" and pw["d"] == w.d and pw["n"] < w.n:
            lower = e["fit_seconds"] * w.n / pw["n"]
            if lower > cap:
                return (f"not run: {e['fit_seconds']:.0f} s on {pw['name']} x {w.n // pw['n']} (linear in n, "
                        f"a lower bound) = {lower:.0f} s > the {cap:.0f} s cap")
    return None


def run_workload(w: datasets.Workload, tools: list[str], args) -> None:
    print(f"== {w.name} (n={w.n:,}, d={w.d}, {w.metric})", flush=True)
    wdir = datasets.materialise(w, args.cache)
    path = RESULTS / f"{w.name}.json"
    old = json.loads(path.read_text()) if path.exists() else None
    if old and old["params"] != params(args):
        print(f"  (parameters differ from {path.name}'s: its old entries are dropped)")
        old = None
    rec = {"workload": w.to_json(), "params": params(args), "tools": dict(old["tools"]) if old else {},
           "runs_log": list(old.get("runs_log", [])) if old else []}
    truth = np.load(wdir / "truth.npy") if (wdir / "truth.npy").exists() else None
    la0 = os.getloadavg()
    t0 = dt.datetime.now().isoformat(timespec="seconds")
    labels = {}
    ordered = [t for t in TOOLS if t in tools]
    # exact labels are needed to score the others: run exact first when it is asked for or missing.
    need_exact = supports("chutoro-exact", w, args.exact_max_n)[0]
    exact_file = wdir / "exact_labels.npy"  # kept in the cache so a later partial run can score against it
    for tool in ordered:
        ok, why = supports(tool, w, args.exact_max_n)
        if not ok:
            rec["tools"][tool] = {"tool": tool, "status": "unsupported", "why": why}
            continue
        dom = None if args.no_skip else dominated_timeout(tool, w, args.cap)
        if dom:
            print(f"  {tool:14s} {dom}")
            rec["tools"][tool] = {"tool": tool, "status": "skipped", "why": dom}
            continue
        s, lab = run_tool(tool, w, wdir, args)
        if lab is not None:
            labels[tool] = lab
            if tool == "chutoro-exact":
                np.save(exact_file, lab.astype(np.int32))
        rec["tools"][tool] = s
    # scores
    exact = labels.get("chutoro-exact")
    if exact is None and need_exact and exact_file.exists():
        exact = np.load(exact_file)
    for tool, lab in labels.items():
        s = rec["tools"][tool]
        if truth is not None:
            s["ari_truth"] = ari(truth, lab)
        if exact is not None and tool != "chutoro-exact":
            s["ari_exact"] = ari(exact, lab)
    rec["runs_log"].append({"started": t0, "finished": dt.datetime.now().isoformat(timespec="seconds"),
                            "tools": ordered, "loadavg_start": la0, "loadavg_end": os.getloadavg()})
    rec["loadavg_start"], rec["loadavg_end"] = la0, os.getloadavg()
    rec["machine"] = args.machine
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec, indent=1, default=float) + "\n")
    print(f"  load average {la0[0]:.2f} -> {rec['loadavg_end'][0]:.2f}; wrote {path.relative_to(ROOT)}", flush=True)


def params(args) -> dict:
    return {"min_cluster_size": args.min_cluster_size, "min_samples": args.min_samples, "threads": args.threads,
            "m": 16, "ef_construction": 100}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(datasets.QUICK)}")
    ap.add_argument("--only", default="", help="comma-separated workload names (see --list)")
    ap.add_argument("--skip", default="", help="comma-separated workload names to leave out")
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS))
    ap.add_argument("--list", action="store_true", help="list the workloads and exit")
    ap.add_argument("--cap", type=float, default=600.0, help="per-run wall-clock cap, seconds (default 600)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per tool, median kept (default 3)")
    ap.add_argument("--repeat-below", type=float, default=30.0,
                    help="repeat only runs shorter than this many seconds (default 30)")
    ap.add_argument("--threads", type=int, default=2, help="threads/cores for every tool (default 2)")
    ap.add_argument("--min-cluster-size", type=int, default=10)
    ap.add_argument("--min-samples", type=int, default=10, help="chutoro/sklearn convention: the item counts")
    ap.add_argument("--exact-max-n", type=int, default=60000)
    ap.add_argument("--no-skip", action="store_true",
                    help="run a tool even where it hit the cap on a smaller blob workload")
    ap.add_argument("--chutoro", type=Path, default=ROOT / "build" / "release" / "chutoro")
    ap.add_argument("--cache", type=Path, default=ROOT / "build" / "bench_data")
    ap.add_argument("--report-only", action="store_true", help="only rewrite docs/ from bench/results/")
    args = ap.parse_args()

    import report

    if args.list:
        for w in datasets.all_workloads():
            print(f"{w.name:18s} {w.kind:8s} n={w.n:>9,} d={w.d:>4} {w.metric}")
        return 0
    if not args.report_only:
        by_name = {w.name: w for w in datasets.all_workloads()}
        names = datasets.QUICK if args.quick else datasets.FULL_ORDER
        if args.only:
            names = [x for x in args.only.split(",") if x]
            bad = [x for x in names if x not in by_name]
            if bad:
                ap.error(f"unknown workload(s) {bad}; see --list")
        skip = set(x for x in args.skip.split(",") if x)
        tools = [t for t in args.tools.split(",") if t]
        bad = [t for t in tools if t not in TOOLS]
        if bad:
            ap.error(f"unknown tool(s) {bad}; choose from {TOOLS}")
        args.machine = machine.describe(args.chutoro)
        print(json.dumps(args.machine, indent=1), flush=True)
        for name in names:
            if name not in skip:
                run_workload(by_name[name], tools, args)
    report.write(RESULTS, ROOT / "docs" / "benchmarks.md", ROOT / "docs" / "benchmarks.png")
    print("wrote docs/benchmarks.md and docs/benchmarks.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
