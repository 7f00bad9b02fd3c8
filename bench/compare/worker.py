"""One run of one Python peer on one workload, in a fresh process (started by
run.py, which measures the process's wall time and peak RSS with wait4).

    worker.py TOOL WORKLOAD_DIR OUT_DIR --min-cluster-size N --min-samples K --threads T

Loads the workload (X.npy or items.txt), times the tool's fit from data in
memory to labels (``fit_seconds``; for hnswlib the index build alone), writes
OUT_DIR/labels.npy (int64, -1 = noise) and OUT_DIR/result.json.

min_samples is given in chutoro's convention (the item itself counts, as in
scikit-learn); hdbscan, fast_hdbscan and fishdbc count neighbours other than
the item, so they get K - 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")


def load(workload: Path):
    if (workload / "X.npy").exists():
        return np.load(workload / "X.npy")
    return (workload / "items.txt").read_text(encoding="utf-8").splitlines()


def run_hdbscan(X, mcs, ms, threads, metric):
    import hdbscan

    c = hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=ms - 1, core_dist_n_jobs=threads)
    t = time.perf_counter()
    labels = c.fit_predict(X)
    return labels, time.perf_counter() - t, {}


def run_sklearn(X, mcs, ms, threads, metric):
    from sklearn.cluster import HDBSCAN

    c = HDBSCAN(min_cluster_size=mcs, min_samples=ms, n_jobs=threads)
    t = time.perf_counter()
    labels = c.fit_predict(X)
    return labels, time.perf_counter() - t, {}


def run_fast_hdbscan(X, mcs, ms, threads, metric):
    import fast_hdbscan

    # Warm-up on a small array of the same dtype and dimension, untimed: numba
    # compiles on first call, and the compile is not what is being measured
    # (it is in the process wall time that run.py records).
    rng = np.random.default_rng(0)
    warm = rng.standard_normal((min(600, len(X)), X.shape[1])).astype(X.dtype)
    t = time.perf_counter()
    fast_hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=ms - 1).fit_predict(warm)
    jit = time.perf_counter() - t
    c = fast_hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=ms - 1)
    t = time.perf_counter()
    labels = c.fit_predict(X)
    return labels, time.perf_counter() - t, {"warmup_seconds": jit}


def run_fishdbc(X, mcs, ms, threads, metric):
    from fishdbc import FISHDBC

    if metric == "levenshtein":
        from rapidfuzz.distance import Levenshtein

        dist = Levenshtein.distance  # C++ edit distance, called back from fishdbc's HNSW
    else:
        dist = "euclidean"
        X = np.asarray(X, dtype=np.float64)
    t = time.perf_counter()
    f = FISHDBC.from_metric(dist, min_samples=ms - 1, m=16, ef=100)
    f.update(X, num_threads=threads)
    labels = np.asarray(f.cluster(min_cluster_size=mcs).labels)
    return labels, time.perf_counter() - t, {"m": 16, "ef": 100}


def run_hnswlib(X, mcs, ms, threads, metric):
    import hnswlib

    t = time.perf_counter()
    index = hnswlib.Index(space="l2", dim=X.shape[1])
    index.init_index(max_elements=len(X), M=16, ef_construction=100, random_seed=42)
    index.set_num_threads(threads)
    index.add_items(X, np.arange(len(X)))
    return None, time.perf_counter() - t, {"M": 16, "ef_construction": 100}


TOOLS = {"hdbscan": run_hdbscan, "sklearn": run_sklearn, "fast_hdbscan": run_fast_hdbscan,
         "fishdbc": run_fishdbc, "hnswlib": run_hnswlib}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("tool", choices=sorted(TOOLS))
    ap.add_argument("workload", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--min-cluster-size", type=int, required=True)
    ap.add_argument("--min-samples", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--metric", default="euclidean")
    a = ap.parse_args()
    X = load(a.workload)
    labels, secs, extra = TOOLS[a.tool](X, a.min_cluster_size, a.min_samples, a.threads, a.metric)
    a.out.mkdir(parents=True, exist_ok=True)
    if labels is not None:
        np.save(a.out / "labels.npy", np.asarray(labels, dtype=np.int64))
    (a.out / "result.json").write_text(json.dumps({"fit_seconds": secs, **extra}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
