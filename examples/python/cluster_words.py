#!/usr/bin/env python3
"""Cluster an English word list by edit distance and print a few clusters.

    python examples/python/cluster_words.py [WORDS_FILE] [--limit N] [--min-cluster-size K] [--show C]

WORDS_FILE defaults to words_en.txt in CHUTORO_DATA_DIR or ../shared/data
(Debian's wamerican list, 104,334 words: about 20-30 s on one core). FISHDBC
with metric="levenshtein" needs no vectors: the HNSW graph is built on edit
distances between the strings themselves.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

import chutoro


def default_words_file() -> Path:
    root = Path(__file__).resolve().parents[2]
    data = Path(os.environ.get("CHUTORO_DATA_DIR", root.parent / "shared" / "data"))
    return data / "words_en.txt"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("words", nargs="?", type=Path, default=default_words_file())
    ap.add_argument("--limit", type=int, help="cluster only a seeded random sample of this many words")
    ap.add_argument("--min-cluster-size", type=int, default=5)
    ap.add_argument("--show", type=int, default=8, help="how many clusters to print")
    args = ap.parse_args()

    words = args.words.read_text(encoding="utf-8").splitlines()
    if args.limit and args.limit < len(words):
        idx = np.sort(np.random.default_rng(0).choice(len(words), args.limit, replace=False))
        words = [words[i] for i in idx]

    t0 = time.perf_counter()
    est = chutoro.FISHDBC(metric="levenshtein", min_cluster_size=args.min_cluster_size).fit(words)
    seconds = time.perf_counter() - t0
    labels = est.labels_
    k = int(labels.max()) + 1
    print(f"{len(words):,} words from {args.words.name}: {k} clusters, "
          f"{np.mean(labels < 0):.1%} noise, {seconds:.1f} s")

    # The most persistent clusters first; within a cluster, its most central words
    # (highest membership probability) first.
    for label in np.argsort(-est.cluster_persistence_)[: args.show]:
        members = np.flatnonzero(labels == label)
        members = members[np.argsort(-est.probabilities_[members], kind="stable")]
        shown = ", ".join(words[i] for i in members[:12])
        more = f", ... (+{len(members) - 12})" if len(members) > 12 else ""
        print(f"  cluster {label:4d} ({len(members)} words, persistence "
              f"{est.cluster_persistence_[label]:.2f}): {shown}{more}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
