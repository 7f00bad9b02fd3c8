#!/usr/bin/env python3
"""Writes the table of docs/python.md that compares chutoro with the reference
FISHDBC implementation (PyPI `fishdbc`, Dell'Amico's, on `anydist` HNSW):
ARI of each approximation against exact HDBSCAN* (chutoro candidates="exact")
and against each other, with wall times, on the shared data sets.

Parameters are matched: fishdbc's min_samples counts neighbours other than the
item (as hdbscan does), chutoro's counts the item itself, so chutoro
min_samples k is fishdbc min_samples k - 1. fishdbc runs with its own defaults
(FISHDBC.from_metric: ef=50, m from anydist, keep_pruned) and once with
chutoro's HNSW settings (m=16, ef=100). Both run on one thread.

Usage: .venv/bin/python scripts/fishdbc_agreement.py [--out FILE]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
warnings.filterwarnings("ignore")

import oracle  # noqa: E402


def words_sample(n: int = 3000) -> list[str]:
    d = oracle.data_dir()
    words = (d / "words_en.txt").read_text(encoding="utf-8").splitlines()
    idx = np.sort(np.random.default_rng(0).choice(len(words), n, replace=False))
    return [words[i] for i in idx]


def run_fishdbc(X, metric, min_samples: int, min_cluster_size: int, **hnsw):
    from fishdbc import FISHDBC

    t0 = time.perf_counter()
    f = FISHDBC.from_metric(metric, min_samples=min_samples - 1, **hnsw)
    if isinstance(X, np.ndarray):
        f.update(X, num_threads=1)
    else:
        for x in X:
            f.add(x)
    labels = np.asarray(f.cluster(min_cluster_size=min_cluster_size).labels)
    return labels, time.perf_counter() - t0


def run_chutoro(X, metric, min_samples: int, min_cluster_size: int, candidates: str):
    import chutoro

    t0 = time.perf_counter()
    c = chutoro.FISHDBC(metric=metric, min_cluster_size=min_cluster_size, min_samples=min_samples,
                        candidates=candidates, n_jobs=1).fit(X)
    return c.labels_, time.perf_counter() - t0


def main() -> int:
    from chutoro import _core
    from sklearn.metrics import adjusted_rand_score as ari

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="also write the table to this file")
    args = ap.parse_args()

    cases = [(name, "euclidean", oracle.variant(name, "raw")) for name in oracle.DATASETS]
    # letter's 16 integer features tie most distances; its jittered copy separates ties from approximation.
    cases.append(("letter (jittered)", "euclidean", oracle.variant("letter", "jittered")))
    cases.append(("words_en (3,000 sample)", "levenshtein", words_sample()))
    rows = [
        "| data | metric | min_cluster_size | ARI chutoro vs exact | ARI fishdbc vs exact | "
        "ARI fishdbc (m=16, ef=100) vs exact | ARI chutoro vs fishdbc | chutoro s | fishdbc s | exact s |",
        "|" + "|".join([" --- "] * 10) + "|",
    ]
    for name, metric, X in cases:
        fmetric = _core.levenshtein if metric == "levenshtein" else metric
        for mcs in (5, 15):
            ms = mcs  # min_samples=None in both estimators' conventions
            ex, t_ex = run_chutoro(X, metric, ms, mcs, "exact")
            ch, t_ch = run_chutoro(X, metric, ms, mcs, "hnsw")
            fi, t_fi = run_fishdbc(X, fmetric, ms, mcs)
            fi2, _ = run_fishdbc(X, fmetric, ms, mcs, m=16, ef=100)
            rows.append(
                f"| {name} | {metric} | {mcs} | {ari(ch, ex):.3f} | {ari(fi, ex):.3f} | {ari(fi2, ex):.3f} | "
                f"{ari(ch, fi):.3f} | {t_ch:.2f} | {t_fi:.2f} | {t_ex:.2f} |"
            )
            print(rows[-1], flush=True)
    table = "\n".join(rows)
    print("\n" + table)
    if args.out:
        Path(args.out).write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
