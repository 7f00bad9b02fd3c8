"""Writes docs/benchmarks.md and docs/benchmarks.png from bench/results/*.json
(the side-by-side runs), bench/results/micro.json (Google Benchmark output of
chutoro_micro, when present) and bench/results/notes.md (hand-written reading
of the results, included verbatim when present)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import datasets  # noqa: E402

TOOL_NAMES = {"chutoro": "chutoro (FISHDBC)", "chutoro-passive": "chutoro, OMP_WAIT_POLICY=passive", "chutoro-exact": "chutoro exact (HDBSCAN*)",
              "chutoro-auto": "chutoro, candidates auto (default)",
              "hnswlib": "hnswlib (index build only)", "hdbscan": "hdbscan", "sklearn": "sklearn HDBSCAN",
              "fast_hdbscan": "fast_hdbscan", "fishdbc": "fishdbc"}
ORDER = ["chutoro", "chutoro-passive", "chutoro-auto", "chutoro-exact", "hnswlib", "hdbscan", "sklearn", "fast_hdbscan", "fishdbc"]


def _f(x, nd=2):
    return "-" if x is None else f"{x:.{nd}f}"


def _secs(x):
    if x is None:
        return "-"
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def load(results: Path) -> dict[str, dict]:
    out = {}
    for f in sorted(results.glob("*.json")):
        if f.name in ("micro.json", "targets.json"):  # not per-workload results
            continue
        rec = json.loads(f.read_text())
        out[rec["workload"]["name"]] = rec
    return out


def _base(tools: dict) -> dict:
    """The row ratios are taken against: chutoro at defaults, or (marked) the passive-wait row
    where the default run was skipped or failed."""
    b = tools.get("chutoro", {})
    if b.get("status") != "ok" and tools.get("chutoro-passive", {}).get("status") == "ok":
        return dict(tools["chutoro-passive"], base_is_passive=True)
    return b


def workload_table(rec: dict) -> list[str]:
    tools = rec["tools"]
    base = _base(tools)
    base_fit = base.get("fit_seconds") if base.get("status") == "ok" else None
    base_graph = base.get("graph_seconds") if base.get("status") == "ok" else None
    rows = ["| tool | wall s (fit) | ratio tool/chutoro | process wall s | peak RSS MiB | ARI vs truth | "
            "ARI vs exact | clusters | noise | runs | load avg (start -> end) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for t in ORDER:
        s = tools.get(t)
        if s is None:
            continue
        name = TOOL_NAMES[t]
        if s["status"] == "ok":
            ref = base_graph if t == "hnswlib" else base_fit
            ratio = f"{s['fit_seconds'] / ref:.2f}" if ref else "-"
            if ref and base.get("base_is_passive"):
                ratio += "†"
            if t == "hnswlib" and ref:
                ratio += " (vs chutoro graph stage " + _secs(ref) + " s)"
                p = tools.get("chutoro-passive", {})
                if p.get("status") == "ok" and not base.get("base_is_passive"):
                    ratio += f"; {s['fit_seconds'] / p['graph_seconds']:.2f} vs the passive row's {_secs(p['graph_seconds'])} s"
            ok_runs = [r for r in s["runs"] if not r.get("timed_out") and "error" not in r]
            la = f"{min(r['loadavg_start'][0] for r in ok_runs):.2f} -> {max(r['loadavg_end'][0] for r in ok_runs):.2f}"
            rows.append(f"| {name} | {_secs(s['fit_seconds'])} | {ratio} | {_secs(s['process_seconds'])} | "
                        f"{s['peak_rss_bytes'] / 2**20:.0f} | {_f(s.get('ari_truth'), 3)} | "
                        f"{_f(s.get('ari_exact'), 3)} | {s.get('clusters', '-')} | "
                        f"{_f(s.get('noise_fraction'), 3)} | {len(ok_runs)} | {la} |")
        elif s["status"] == "timeout":
            cap = s["cap_seconds"]
            r = s["runs"][-1]
            rows.append(f"| {name} | > {cap:.0f} (cap) | > {cap / base_fit:.0f} | > {cap:.0f} | "
                        f"- | - | - | - | - | 1 | "
                        f"{r['loadavg_start'][0]:.2f} -> {r['loadavg_end'][0]:.2f} |" if base_fit else
                        f"| {name} | > {cap:.0f} (cap) | - | > {cap:.0f} | - | - | - | - | - | 1 | - |")
        elif s["status"] == "error":
            msg = s.get("error", "").splitlines()[-1:] or [""]
            rows.append(f"| {name} | failed: {msg[0][:120]} | | | | | | | | | |")
        elif s["status"] == "skipped":
            rows.append(f"| {name} | {s['why']} | | | | | | | | | |")
    return rows


def not_run(recs: dict[str, dict]) -> list[str]:
    lines = []
    for w in datasets.FULL_ORDER:
        if w not in recs:
            lines.append(f"- `{w}`: not run at all (see the notes for why).")
            continue
        for t in ORDER:
            s = recs[w]["tools"].get(t)
            if s is None:
                lines.append(f"- `{w}` / {t}: not run (not in this run's --tools).")
            elif s["status"] == "timeout":
                lines.append(f"- `{w}` / {t}: killed at the {s['cap_seconds']:.0f} s cap.")
            elif s["status"] in ("skipped", "unsupported"):
                lines.append(f"- `{w}` / {t}: {s['why']}.")
            elif s["status"] == "error":
                lines.append(f"- `{w}` / {t}: failed ({(s.get('error') or '').splitlines()[-1:]}).")
    return lines


def micro_table(path: Path) -> list[str]:
    if not path.exists():
        return ["(no bench/results/micro.json yet)"]
    j = json.loads(path.read_text())
    rows = [f"Run {j['context'].get('date', '')}, {j['context'].get('num_cpus')} CPUs at "
            f"{j['context'].get('mhz_per_cpu')} MHz, load average {j['context'].get('load_avg')}.",
            "", "| benchmark | target / path | ns per distance (CPU) | distances / s |", "| --- | --- | ---: | ---: |"]
    for b in j["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        ips = b.get("items_per_second", 0)
        rows.append(f"| {b['name'].replace('_median', '')} | {b.get('label', '')} | "
                    f"{1e9 / ips if ips else 0:.1f} | {ips / 1e6:.1f} M |")
    return rows


def plot(recs: dict[str, dict], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = [2, 16, 128, 784]
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.6), sharey=True)
    colours = dict(zip(ORDER, ["C0", "C9", "C6", "C7", "C8", "C1", "C2", "C3", "C4"]))
    for ax, d in zip(axes, dims):
        ws = sorted((r for r in recs.values() if r["workload"]["kind"] == "blobs" and r["workload"]["d"] == d),
                    key=lambda r: r["workload"]["n"])
        for t in ORDER:
            xs, ys, cx, cy = [], [], [], []
            for r in ws:
                s = r["tools"].get(t)
                if not s:
                    continue
                if s["status"] == "ok":
                    xs.append(r["workload"]["n"])
                    ys.append(s["fit_seconds"])
                elif s["status"] == "timeout":
                    cx.append(r["workload"]["n"])
                    cy.append(s["cap_seconds"])
            if xs:
                ax.plot(xs, ys, "o-", color=colours[t], label=TOOL_NAMES[t])
            if cx:
                ax.plot(cx, cy, "x", color=colours[t], markersize=10, mew=2,
                        label=None if xs else TOOL_NAMES[t] + " (> cap)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"Gaussian blobs, d = {d}")
        ax.set_xlabel("n")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("wall s (fit, 2 threads); x = killed at the cap")
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if labels:
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(png, dpi=110)
    plt.close(fig)


def write(results: Path, md: Path, png: Path) -> None:
    recs = load(results)
    machines = {}
    for r in recs.values():
        m = r.get("machine")
        if m:
            key = json.dumps({k: m[k] for k in ("cpu", "cores", "ram_gib", "os", "compiler", "chutoro_version",
                                                  "peers")}, sort_keys=True)
            machines.setdefault(key, (m, []))[1].append(r["workload"]["name"])
    params = next(iter(recs.values()))["params"] if recs else {}
    out = ["# Benchmarks", "",
           "Generated by `scripts/bench.sh` (bench/compare/run.py + report.py) from the raw results in",
           "`bench/results/*.json`; do not edit by hand (the reading of the results lives in",
           "`bench/results/notes.md` and is included below).", "",
           "## Side-by-side: chutoro against its peers", "",
           "```sh",
           "scripts/bench.sh --quick                          # small grid: checks the harness (a few minutes)",
           "scripts/bench.sh                                  # the whole grid (hours on 2 cores)",
           "scripts/bench.sh --only blobs_100k_128,letter     # a subset; results merge into bench/results/",
           "scripts/bench.sh --tools chutoro,hnswlib --cap 300 # a subset of tools, another cap",
           "scripts/bench.sh --list | --report-only           # workloads | rewrite this page from bench/results/",
           "```", "",
           "`scripts/bench.sh` creates `bench/.venv` (git-ignored) with the peers from PyPI, builds the CLI",
           "(`scripts/build.sh` -> `build/release/chutoro`), materialises the workloads under",
           "`build/bench_data/`, runs every tool on every workload, and writes this page and",
           "`docs/benchmarks.png`.", "",
           "**What is measured.** Every run is a fresh subprocess under a wall-clock cap; a run past it",
           "is killed and shown as `> cap`. *wall s (fit)* is the clustering from data in memory to",
           "labels: for chutoro `seconds.total - seconds.read` of `chutoro cluster --json` (graph +",
           "MST + hierarchy), for the Python peers `time.perf_counter()` around the fit in the worker",
           "(`fast_hdbscan` is first warmed up, untimed, on 600 random points of the same dimension so",
           "that numba's compilation is not counted; fishdbc: `from_metric` + `update` + `cluster`).",
           "*process wall s* is the whole subprocess (start-up, imports, reading the .npy, JIT, fit).",
           "*peak RSS* is the subprocess's `ru_maxrss` (os.wait4): for the Python peers it includes the",
           "interpreter and numpy/scipy/numba (about 100-200 MiB before any data). Runs shorter than",
           "30 s are repeated 3 times (fresh process each) and the median fit time is shown; longer",
           "ones run once. For hnswlib the time is the index build alone (`init_index` + `add_items`,",
           "M=16, ef_construction=100, 2 threads) and its ratio is against chutoro's graph stage",
           "(`seconds.graph`: the HNSW build including the candidate-edge harvest).", "",
           f"**Parameters, equal across tools**: min_cluster_size = {params.get('min_cluster_size')}, "
           f"min_samples = {params.get('min_samples')} counting the item itself (chutoro, sklearn);",
           f"hdbscan, fast_hdbscan and fishdbc count neighbours other than the item and get "
           f"min_samples = {params.get('min_samples', 1) - 1} (the same core distance).",
           "Selection eom, epsilon 0. chutoro: defaults m = 16, ef_construction = 100, seed 42, "
           f"`--threads {params.get('threads')}`; fishdbc at the same m = 16, ef = 100 "
           f"(`update(X, num_threads={params.get('threads')})`), hdbscan `core_dist_n_jobs=2`, sklearn",
           "`n_jobs=2`, fast_hdbscan `NUMBA_NUM_THREADS=2`; every process also gets OMP/OpenBLAS/MKL",
           "threads = 2. Everything else at each tool's defaults (hdbscan `algorithm='best'`,",
           "sklearn `algorithm='auto'`, fast_hdbscan Boruvka on a kd-tree up to 30 dimensions and",
           "pynndescent's approximate kNN graph above).", "",
           "**ARI vs truth** is `adjusted_rand_score(truth, labels)` with every noise label (-1, and",
           "the blobs' uniform noise) as one class; **ARI vs exact** compares with chutoro's",
           "`--candidates exact` labels (exact HDBSCAN*, which matches hdbscan/sklearn; see",
           "docs/python.md), computed where n <= 60,000.", "",
           "**Workloads.** The shared real data sets in `../shared/data` (feature columns only; the",
           "`label` column is the truth), `words_en.txt` (levenshtein; only chutoro and fishdbc",
           "have it: fishdbc calls `rapidfuzz.distance.Levenshtein.distance` back from its HNSW) and",
           "a seeded 20,000-word sample of it (`words_20k`, small enough for exact mode), and Gaussian",
           "blobs from `bench/compare/datasets.py`: 20 clusters with standard deviations 0.2-1.0 and",
           "sizes varying 4x, centres uniform in [-10, 10]^d, plus 10% uniform noise over",
           "[-12, 12]^d (truth label -1), float32, one fixed seed per (n, d).", ""]
    out += ["## Machine", ""]
    for m, names in machines.values():
        if len(machines) > 1:
            out.append(f"For {', '.join(names)}:")
            out.append("")
        out += [f"- CPU: {m['cpu']}, {m['cores']} cores; RAM {m['ram_gib']} GiB; {m['os']}",
                f"- compiler: {m['compiler']}",
                f"- chutoro: `{m['chutoro_version']}` (commit {m['chutoro_commit']}); Python {m['python']}",
                "- peers: " + ", ".join(f"{k} {v}" for k, v in m["peers"].items()), ""]
    out += ["Other engineers shared this machine during the runs: the load average at the start and",
            "end of every run is in the tables (a 2-core machine with a load above 2 was oversubscribed,",
            "and the times are then pessimistic for whoever ran at that moment).", ""]
    targets = results / "targets.md"  # written by targets.py (scripts/bench.sh --targets)
    if targets.exists():
        out += [targets.read_text().strip(), ""]
    notes = results / "notes.md"
    if notes.exists():
        out += ["## Reading the results", "", notes.read_text().strip(), ""]
    # summary
    out += ["## Summary: wall s (fit), ratio to chutoro in brackets", ""]
    hdr = ["workload", "n", "d"] + [TOOL_NAMES[t] for t in ORDER]
    out += ["| " + " | ".join(hdr) + " |", "|" + " --- |" * 3 + " ---: |" * len(ORDER)]
    for name in datasets.FULL_ORDER:
        r = recs.get(name)
        if not r:
            continue
        w = r["workload"]
        base = _base(r["tools"])
        mark = "†" if base.get("base_is_passive") else ""
        cells = []
        for t in ORDER:
            s = r["tools"].get(t)
            ref = base.get("graph_seconds" if t == "hnswlib" else "fit_seconds") if base.get("status") == "ok" else None
            if not s:
                cells.append("")
            elif s["status"] == "ok":
                cells.append(_secs(s["fit_seconds"]) + (f" ({s['fit_seconds'] / ref:.1f}x{mark})" if ref and s is not base and not (mark and t == "chutoro-passive") and t != "chutoro" else ""))
            elif s["status"] == "timeout":
                cells.append(f"> {s['cap_seconds']:.0f}")
            elif s["status"] == "skipped":
                cells.append("skipped")
            elif s["status"] == "unsupported":
                cells.append("n/a")
            else:
                cells.append("failed")
        out.append(f"| {name} | {w['n']:,} | {w['d'] or w['metric']} | " + " | ".join(cells) + " |")
    out += ["", "n/a: the tool cannot run this workload (no string metric; exact mode only up to",
            "n = 60,000). skipped: certain to pass the cap, so not started: the tool had hit the cap on",
            "a blob workload no larger in n and d, or its fit time on a smaller n at the same d times",
            "the ratio of the n's (a lower bound: no tool here is sub-linear in n) exceeds the cap.",
            "hnswlib's ratio is against chutoro's graph stage. \u2020: ratio against the",
            "OMP_WAIT_POLICY=passive row, the default chutoro run having been skipped.",
            "", "![time vs n](benchmarks.png)", "",
            "## Per workload", ""]
    for name in datasets.FULL_ORDER:
        r = recs.get(name)
        if not r:
            continue
        w = r["workload"]
        logs = r.get("runs_log", [])
        when = f"{logs[0]['started']} .. {logs[-1]['finished']}" if logs else ""
        out += [f"### {name}: n = {w['n']:,}, " + (f"d = {w['d']}" if w["d"] else "strings") + f", {w['metric']}",
                "", f"Run {when}; load average {r['loadavg_start'][0]:.2f} at the start and "
                f"{r['loadavg_end'][0]:.2f} at the end of the workload's last run.", ""]
        if w.get("notes"):
            out += [w["notes"] + ".", ""]
        out += workload_table(r) + [""]
        if _base(r["tools"]).get("base_is_passive"):
            out += ["† ratio against the OMP_WAIT_POLICY=passive row (the default run was skipped).", ""]
    out += ["## Not run", ""] + (not_run(recs) or ["Everything ran."]) + [""]
    out += ["## Micro-benchmarks (Google Benchmark)", "",
            "`bench/micro/kernels.cpp`, built as `chutoro_micro` when Google Benchmark",
            "(`libbenchmark-dev`) is found (CMake option `CHUTORO_BUILD_BENCH`, default ON then). Not",
            "part of the test suite. Dense squared L2 / L1 / dot for the scalar reference",
            "(`reference_kernels()`) and every compiled Highway target this CPU supports, rows 64-byte",
            "aligned and padded to a multiple of 16 floats, at d = 2, 16, 128, 784; levenshtein on",
            "random strings of 8 and 60 code points (bit-parallel Myers/Hyyrö) and 200 (DP fallback);",
            "jaccard on sorted id sets of 8 and 64; hamming and tanimoto on 64 and 1024 bits. Each",
            "iteration evaluates 64 pairs that stay in cache (compute cost, not memory bandwidth).", "",
            "```sh",
            "cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DCHUTORO_BUILD_TESTS=OFF",
            "cmake --build build/bench --target chutoro_micro",
            "build/bench/bench/micro/chutoro_micro                               # all",
            "build/bench/bench/micro/chutoro_micro --benchmark_filter='dense/dot'  # a subset",
            "build/bench/bench/micro/chutoro_micro --benchmark_repetitions=3 --benchmark_report_aggregates_only \\",
            "    --benchmark_out=bench/results/micro.json --benchmark_out_format=json  # the table below",
            "```", ""] + micro_table(results / "micro.json") + [""]
    md.write_text("\n".join(out))
    plot(recs, png)


if __name__ == "__main__":
    root = HERE.parents[1]
    write(root / "bench" / "results", root / "docs" / "benchmarks.md", root / "docs" / "benchmarks.png")
