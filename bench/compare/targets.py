"""The speed and memory targets of the benchmark page, measured side by side in one run.

    scripts/bench.sh --targets        (or: bench/.venv/bin/python bench/compare/targets.py)

1. Thread scaling: chutoro's CLI on blobs_100k_128 with --threads 1 and --threads 2,
   runs alternating (1, 2, 1, 2, ...), medians of --repeats; the ratio of the medians.
2. Graph stage vs hnswlib: chutoro's graph stage (HNSW build + candidate harvest, from
   --json) against hnswlib's index build at the same M = 16, ef_construction = 100,
   2 threads, on blobs_100k_128, runs alternating; then recall@10 of both graphs on the same 1,000
   items searched with ef = 100 (chutoro: build/release/bench/recall/chutoro_recall; hnswlib:
   knn_query), each against brute force.
3. 1M x 32 blobs at defaults (min_cluster_size 5 = min_samples; 2 threads): wall time of the fit and peak RSS, reported as
   bytes per item above the raw float32 data; then hnswlib's index build on the same data at the same M and
   ef_construction (the graph alone), for reference.

Every run is a fresh process (run.run_process: wall clock, peak RSS via GNU time). The
results replace the section between the "targets" markers of docs/benchmarks.md and are
kept in bench/results/targets.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import datasets  # noqa: E402
import machine  # noqa: E402
import run  # noqa: E402

ROOT = HERE.parents[1]


def chutoro_run(chutoro: Path, x: Path, threads: int, cap: float, defaults: bool = False) -> dict:
    """One CLI run: min_cluster_size = min_samples = 10 as the side-by-side grid, or the defaults."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    with tempfile.TemporaryDirectory(prefix="chutoro-targets-") as tmp:
        params = [] if defaults else ["--min-cluster-size", "10", "--min-samples", "10"]
        cmd = [str(chutoro), "cluster", str(x), "--json", "--quiet", "--threads", str(threads), *params,
               "--output", str(Path(tmp) / "l.csv")]
        p = run.run_process(cmd, cap, env)
    if p["rc"] != 0 or p["timed_out"]:
        return {"error": p["stderr"][-500:] or "timed out", "wall": p["wall"]}
    j = json.loads(p["stdout"])
    s = j["seconds"]
    return {"fit": s["total"] - s["read"], "graph": s["graph"], "mst": s["mst"], "wall": p["wall"],
            "peak_rss_bytes": p["peak_rss_bytes"], "distance_computations": j["distance_computations"],
            "candidate_edges": j.get("candidate_edges")}


def hnswlib_run(wdir: Path, threads: int, cap: float) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    with tempfile.TemporaryDirectory(prefix="chutoro-targets-") as tmp:
        cmd = [sys.executable, str(HERE / "worker.py"), "hnswlib", str(wdir), tmp, "--min-cluster-size", "10",
               "--min-samples", "10", "--threads", str(threads)]
        p = run.run_process(cmd, cap, env)
        if p["rc"] != 0:
            return {"error": p["stderr"][-500:]}
        return {"build": json.loads((Path(tmp) / "result.json").read_text())["fit_seconds"]}


def recall_runs(chutoro_recall: Path, x: Path, queries: int = 1000, k: int = 10) -> dict:
    """recall@k of chutoro's graph (chutoro_recall) and hnswlib's index on the same items, M 16,
    ef_construction 100, 2 threads, searched with ef = 100; brute-force truth for each."""
    import numpy as np
    import hnswlib

    p = run.run_process([str(chutoro_recall), str(x), str(queries), str(k), "2"], 1800, dict(os.environ))
    ours = json.loads(p["stdout"]) if p["rc"] == 0 else {"error": p["stderr"][-500:]}
    X = np.load(x).astype(np.float32)
    qs = np.arange(queries) * max(len(X) // queries, 1)
    index = hnswlib.Index(space="l2", dim=X.shape[1])
    index.init_index(max_elements=len(X), M=16, ef_construction=100, random_seed=42)
    index.set_num_threads(2)
    index.add_items(X, np.arange(len(X)))
    index.set_ef(100)
    got, _ = index.knn_query(X[qs], k=k + 1)
    hits = 0
    for i, q in enumerate(qs):
        d = ((X - X[q]) ** 2).sum(1)
        d[q] = np.inf
        truth = set(np.argpartition(d, k)[:k].tolist())
        hits += len(truth & set([int(j) for j in got[i] if j != q][:k]))
    return {"chutoro": ours, "hnswlib": {"recall_at_k": hits / (k * len(qs)), "k": k, "queries": len(qs)}}


def median(runs: list[dict], key: str) -> float | None:
    v = [r[key] for r in runs if key in r]
    return statistics.median(v) if v else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chutoro", type=Path, default=ROOT / "build" / "release" / "chutoro")
    ap.add_argument("--cache", type=Path, default=ROOT / "build" / "bench_data")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cap", type=float, default=900)
    ap.add_argument("--skip-million", action="store_true", help="leave out the 1M x 32 run (keeps its last result)")
    ap.add_argument("--only-million", action="store_true", help="only the 1M x 32 run (keeps the others' results)")
    a = ap.parse_args()

    w100 = next(w for w in datasets.all_workloads() if w.name == "blobs_100k_128")
    d100 = datasets.materialise(w100, a.cache)
    x100 = d100 / "X.npy"
    one, two, hnsw = [], [], []
    if a.only_million:
        old = json.loads((ROOT / "bench" / "results" / "targets.json").read_text())["blobs_100k_128"]
        one, two, hnsw = old["threads1"], old["threads2"], old["hnswlib"]
    for i in range(0 if a.only_million else a.repeats):
        for threads, out in ((1, one), (2, two)):
            out.append(chutoro_run(a.chutoro, x100, threads, a.cap))
            print(f"blobs_100k_128 threads {threads}: {out[-1]}", file=sys.stderr)
        hnsw.append(hnswlib_run(d100, 2, a.cap))
        print(f"hnswlib: {hnsw[-1]}", file=sys.stderr)
    if a.only_million:
        recall = old.get("recall")
    else:
        recall = recall_runs(a.chutoro.parent / "bench" / "recall" / "chutoro_recall", x100)
        print(f"recall@10: {recall}", file=sys.stderr)
    res = {"machine": machine.describe(a.chutoro),
           "loadavg_end_100k": os.getloadavg(),
           "blobs_100k_128": {"threads1": one, "threads2": two, "hnswlib": hnsw, "recall": recall}}

    old_path = ROOT / "bench" / "results" / "targets.json"
    if a.skip_million and old_path.exists():  # keep the last 1M result
        old_1m = json.loads(old_path.read_text()).get("blobs_1M_32")
        if old_1m:
            res["blobs_1M_32"] = old_1m
    if not a.skip_million:
        w1m = datasets.Workload("blobs_1M_32", "blobs", 1_000_000, 32, has_truth=True, seed=32_000)
        d1m = datasets.materialise(w1m, a.cache)
        r = chutoro_run(a.chutoro, d1m / "X.npy", 2, a.cap, defaults=True)
        print(f"blobs_1M_32: {r}", file=sys.stderr)
        # The floor at these M / ef_construction: hnswlib's index build alone.
        r["hnswlib_build"] = hnswlib_run(d1m, 2, a.cap).get("build")
        print(f"blobs_1M_32 hnswlib: {r['hnswlib_build']}", file=sys.stderr)
        res["blobs_1M_32"] = r
    res["loadavg_end"] = os.getloadavg()
    (ROOT / "bench" / "results" / "targets.json").write_text(json.dumps(res, indent=1))

    t1, t2 = median(one, "fit"), median(two, "fit")
    g2, hb = median(two, "graph"), median(hnsw, "build")
    lines = ["", "", "## Targets (one run, side by side)", "",
             f"Measured by `scripts/bench.sh --targets` (bench/compare/targets.py); load average at the end "
             f"{res['loadavg_end'][0]:.2f}. Medians of {a.repeats} fresh-process runs, alternating.", "",
             "| target | measured | met |", "| --- | --- | --- |"]
    if t1 and t2:
        lines.append(f"| 2 threads >= 1.8x faster than 1 on blobs_100k_128 | 1 thread {t1:.1f} s, 2 threads "
                     f"{t2:.1f} s: {t1 / t2:.2f}x | {'yes' if t1 / t2 >= 1.8 else 'no'} |")
        lines.append(f"| blobs_100k_128 full clustering under 15 s (2 threads) | {t2:.1f} s | "
                     f"{'yes' if t2 < 15 else 'no'} |")
    if g2 and hb:
        lines.append(f"| graph stage <= 1.2x hnswlib's build (M 16, ef_construction 100, 2 threads) | chutoro "
                     f"{g2:.1f} s, hnswlib {hb:.1f} s: {g2 / hb:.2f}x | {'yes' if g2 / hb <= 1.2 else 'no'} |")
    rc = (recall or {}).get("chutoro", {}).get("recall_at_k")
    rh = (recall or {}).get("hnswlib", {}).get("recall_at_k")
    if rc is not None and rh is not None:
        lines.append(f"| recall@10 within 0.01 of hnswlib's (same items, M, ef_construction; searched with ef 100; "
                     f"1000 queries) | chutoro {rc:.4f}, hnswlib {rh:.4f} | {'yes' if rc >= rh - 0.01 else 'no'} |")
    m = res.get("blobs_1M_32")
    if m and "fit" in m:
        raw = 1_000_000 * 32 * 4
        per_item = (m["peak_rss_bytes"] - raw) / 1_000_000 if m.get("peak_rss_bytes") else float("nan")
        floor = (f" (hnswlib's index build alone, same M 16 / ef_construction 100: {m['hnswlib_build']:.1f} s)"
                 if m.get("hnswlib_build") else "")
        lines.append(f"| blobs_1M_32 at defaults under 60 s (2 threads) | {m['fit']:.1f} s{floor} | "
                     f"{'yes' if m['fit'] < 60 else 'no'} |")
        lines.append(f"| peak RSS <= raw data + 400 B/item on blobs_1M_32 | {m['peak_rss_bytes'] / 2**20:.0f} MiB "
                     f"= raw {raw / 2**20:.0f} MiB + {per_item:.0f} B/item | {'yes' if per_item <= 400 else 'no'} |")
    elif m:
        lines.append(f"| blobs_1M_32 | failed: {m.get('error', '')[:200]} | no |")
    lines += [""]
    (ROOT / "bench" / "results" / "targets.md").write_text("\n".join(lines[2:]) + "\n")
    import report  # noqa: E402  (rewrites docs/benchmarks.md with this section near the top)

    report.write(ROOT / "bench" / "results", ROOT / "docs" / "benchmarks.md", ROOT / "docs" / "benchmarks.png")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
