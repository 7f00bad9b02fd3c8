#!/usr/bin/env python3
"""Runs the chutoro CLI on the shared real data sets and prints the README table.

Usage: scripts/real_data_table.py [--cli build/release/chutoro] [--data ../shared/data]

For each data set: default (hnsw) run with --json (n, clusters, noise fraction,
wall time, peak RSS, ARI vs the label column where there is one), and where
exact mode fits (n <= 60,000) an exact run; the ARI between the two labelings
is computed here from the --output files. Single-threaded (--threads 1), as
the README's targets are stated.
"""
import argparse
import collections
import json
import math
import os
import subprocess
import sys
import tempfile

DATASETS = [
    # file, extra args, run exact?
    ("digits.csv", ["--label-column", "label"], True),
    ("letter.csv", ["--label-column", "label"], True),
    ("shuttle.csv", ["--label-column", "label"], True),
    ("chameleon_ds3.csv", [], True),
    ("clusterable_data.npy", [], True),
    ("words_en.txt", ["--metric", "levenshtein"], False),
]


def ari(a, b):
    """Adjusted Rand index (Hubert & Arabie 1985), noise as an ordinary label."""
    n = len(a)
    pairs = lambda x: x * (x - 1) / 2
    cont = collections.Counter(zip(a, b))
    sa = sum(pairs(c) for c in collections.Counter(a).values())
    sb = sum(pairs(c) for c in collections.Counter(b).values())
    sab = sum(pairs(c) for c in cont.values())
    expected = sa * sb / pairs(n)
    top = (sa + sb) / 2
    return 1.0 if top == expected else (sab - expected) / (top - expected)


def run(cli, path, extra, out):
    cmd = [cli, "cluster", path, "--json", "--threads", "1", "--output", out] + extra
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout)


def labels(path):
    with open(path) as f:
        next(f)
        return [int(line.split(",")[0]) for line in f]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default="build/release/chutoro")
    ap.add_argument("--data", default=os.environ.get("CHUTORO_DATA_DIR", "../shared/data"))
    args = ap.parse_args()
    print("| data | metric | n | dim | clusters | noise | wall s (1 thread) | peak RSS MiB | ARI vs label | ARI hnsw vs exact | exact wall s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra, exact in DATASETS:
            path = os.path.join(args.data, name)
            out_h, out_e = os.path.join(tmp, "h.csv"), os.path.join(tmp, "e.csv")
            j = run(args.cli, path, extra + ["--candidates", "hnsw"], out_h)  # FISHDBC (the default is auto)
            ari_label = f"{j['ari']:.3f}" if "ari" in j else "-"
            ari_exact, exact_s = "-", "-"
            if exact:
                je = run(args.cli, path, extra + ["--candidates", "exact"], out_e)
                ari_exact = f"{ari(labels(out_h), labels(out_e)):.3f}"
                exact_s = f"{je['seconds']['total']:.2f}"
            print(f"| {name} | {j['metric']} | {j['n']:,} | {j['dim']} | {j['clusters']} | "
                  f"{j['noise_fraction']:.3f} | {j['seconds']['total']:.2f} | "
                  f"{j['peak_rss_bytes'] / 2**20:.0f} | {ari_label} | {ari_exact} | {exact_s} |",
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())
