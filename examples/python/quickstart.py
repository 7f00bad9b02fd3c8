#!/usr/bin/env python3
"""The Python quick start: cluster a CSV with a label column (default: the
UCI digits in ../shared/data) with chutoro.FISHDBC and print a summary.

    python examples/python/quickstart.py [FILE.csv] [--min-cluster-size K]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

import chutoro


def main() -> int:
    root = Path(__file__).resolve().parents[2]
    data = Path(os.environ.get("CHUTORO_DATA_DIR", root.parent / "shared" / "data"))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", nargs="?", type=Path, default=data / "digits.csv")
    ap.add_argument("--min-cluster-size", type=int, default=5)
    args = ap.parse_args()

    header = args.csv.read_text(encoding="utf-8").split("\n", 1)[0].split(",")
    label_col = header.index("label") if "label" in header else None
    table = np.loadtxt(args.csv, delimiter=",", skiprows=1, dtype=str, ndmin=2)
    features = [i for i in range(len(header)) if i != label_col]
    X = table[:, features].astype(np.float32)

    t0 = time.perf_counter()
    est = chutoro.FISHDBC(min_cluster_size=args.min_cluster_size).fit(X)
    seconds = time.perf_counter() - t0
    labels = est.labels_
    sizes = np.sort(np.bincount(labels[labels >= 0]))[::-1]
    print(f"chutoro {chutoro.__version__} (Python): {args.csv.name}, {X.shape[0]} items x {X.shape[1]} dims")
    print(f"  clusters    {len(sizes)} (largest: {', '.join(map(str, sizes[:8]))}{', ...' if len(sizes) > 8 else ''})")
    print(f"  noise       {np.mean(labels < 0):.1%} ({int(np.sum(labels < 0))} items)")
    if label_col is not None:
        truth = table[:, label_col]
        print(f"  ARI / AMI   {adjusted_rand_score(truth, labels):.4f} / {adjusted_mutual_info_score(truth, labels):.4f}"
              ' (against column "label")')
    print(f"  time        {seconds:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
