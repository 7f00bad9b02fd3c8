#!/usr/bin/env python3
"""ARI of FISHDBC against exact HDBSCAN* over seeds and min_cluster_size.

Usage: scripts/seed_grid.py [--cli build/release/chutoro] [--old OTHER_CLI]
           [--data ../shared/data] [--sets shuttle.csv,...] [--seeds 1-10]
           [--mcs 5,10,25] [--threads 2] [--cap 600] [--extra "--candidates hnsw"]

For each data set and min_cluster_size (min_samples = its default, the same
value): one exact run (--candidates exact), then one hnsw run per seed with
each CLI given; prints per (set, mcs) the minimum ARI vs exact over the seeds
(and the seed giving it), the summed wall time of each CLI's runs, which
were run alternately, so their ratio is fair on a shared machine, and their
summed distance computations (--json). --extra passes further options to
every run but the exact one (e.g. --candidates hnsw where auto would choose
the exact mode). Stops starting new runs after --cap seconds. Standard
library only.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from real_data_table import ari, labels  # noqa: E402

EXTRA = {"digits.csv": ["--label-column", "label"], "letter.csv": ["--label-column", "label"],
         "shuttle.csv": ["--label-column", "label"]}


def run(cli, path, args, out, env=None):
    cmd = [cli, "cluster", path, "--json", "--output", out] + EXTRA.get(os.path.basename(path), []) + args
    t = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(res.stdout), time.monotonic() - t


def seeds_of(text):
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default="build/release/chutoro")
    ap.add_argument("--old", default=None,
                    help="a second CLI run alternately (e.g. main's build), or env:NAME=VALUE: --cli with that variable")
    ap.add_argument("--data", default=os.environ.get("CHUTORO_DATA_DIR", "../shared/data"))
    ap.add_argument("--sets", default="shuttle.csv,letter.csv,digits.csv,chameleon_ds3.csv,clusterable_data.npy")
    ap.add_argument("--seeds", default="1-10")
    ap.add_argument("--mcs", default="5,10,25")
    ap.add_argument("--threads", default="2")
    ap.add_argument("--cap", type=float, default=600.0)
    ap.add_argument("--extra", default="", help="more options for every run but the exact one")
    a = ap.parse_args()
    clis = [("new", a.cli)] + ([("old", a.old)] if a.old else [])
    # --old env:NAME=VALUE runs --cli again with that environment variable set
    env_of = {}
    if a.old and a.old.startswith("env:"):
        name, _, value = a.old[4:].partition("=")
        clis[1] = ("old", a.cli)
        env_of["old"] = {**os.environ, name: value}
    start = time.monotonic()
    print("| data set | mcs | " + " | ".join(f"{n}: min ARI (seed) | {n}: s | {n}: distances" for n, _ in clis) + " | seeds |")
    print("| --- | --- | " + " | ".join("--- | --- | ---" for _ in clis) + " | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "labels.csv")
        for name in a.sets.split(","):
            path = os.path.join(a.data, name)
            for mcs in [int(x) for x in a.mcs.split(",")]:
                if time.monotonic() - start > a.cap:
                    print(f"(cap of {a.cap:.0f} s reached: {name} mcs {mcs} and later not run)")
                    return
                common = ["--min-cluster-size", str(mcs), "--threads", a.threads] + a.extra.split()
                # the exact oracle on one thread: its Prim meets the other threads
                # once per item, which a shared machine punishes
                run(a.cli, path, ["--min-cluster-size", str(mcs), "--threads", "1", "--candidates", "exact"], out)
                exact = labels(out)
                worst = {n: (2.0, None) for n, _ in clis}
                secs = {n: 0.0 for n, _ in clis}
                dists = {n: 0 for n, _ in clis}
                done = 0
                for seed in seeds_of(a.seeds):
                    if time.monotonic() - start > a.cap:
                        break
                    for n, cli in clis:
                        js, s = run(cli, path, common + ["--seed", str(seed)], out, env_of.get(n))
                        secs[n] += s
                        dists[n] += js["distance_computations"]
                        worst[n] = min(worst[n], (ari(exact, labels(out)), seed))
                    done += 1
                cells = " | ".join(f"{worst[n][0]:.4f} ({worst[n][1]}) | {secs[n]:.1f} | {dists[n]}" for n, _ in clis)
                print(f"| {name} | {mcs} | {cells} | {done} |", flush=True)


if __name__ == "__main__":
    main()
