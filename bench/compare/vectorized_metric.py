"""Usage: python bench/compare/vectorized_metric.py [hnsw] [auto]

2,309 items (clusterable_data.npy): per-pair callable vs chutoro.vectorized vs built-in
euclidean, side by side, 1 thread, loaded machine. Prints seconds and ratios."""
import os
import sys
import time
from pathlib import Path
import numpy as np
import chutoro

X = np.load(Path(os.environ.get("CHUTORO_DATA_DIR", Path(__file__).resolve().parents[2] / ".." / "shared" / "data")) / "clusterable_data.npy")

def per_pair(a, b):
    return float(np.sqrt(((a - b) ** 2).sum()))

def euclid_rows(x, Y):
    return np.sqrt(((Y - x) ** 2).sum(axis=1))

def run(metric, data, candidates):
    t = time.perf_counter()
    est = chutoro.FISHDBC(min_cluster_size=15, metric=metric, candidates=candidates, n_jobs=1).fit(data)
    return time.perf_counter() - t, est.labels_

for candidates in sys.argv[1:] or ["hnsw", "auto"]:
    rows = []
    for rep in range(2):
        tp, lp = run(per_pair, list(X), candidates)
        tv, lv = run(chutoro.vectorized(euclid_rows), X, candidates)
        tb, lb = run("euclidean", X, candidates)
        rows.append((tp, tv, tb))
        print(f"{candidates} rep {rep}: per-pair {tp:.2f} s, vectorized {tv:.2f} s, built-in {tb:.3f} s; "
              f"labels per-pair == vectorized: {np.array_equal(lp, lv)}; clusters {lv.max() + 1} / built-in {lb.max() + 1}",
              flush=True)
    tp, tv, tb = np.min(rows, axis=0)
    print(f"{candidates} best of 2: per-pair/vectorized = {tp / tv:.1f}x, vectorized/built-in = {tv / tb:.1f}x")
