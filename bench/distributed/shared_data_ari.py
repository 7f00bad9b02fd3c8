"""ARI of `mpirun -np P chutoro cluster` against the one-process CLI on the
shared data sets (docs/distributed.md, "Measurements"), P = 2, 4, 8, default
overlap 2. Counts and bytes, not times (the ranks share this machine's cores).

    python bench/distributed/shared_data_ari.py [DATA_DIR] > table.md
    EXTRA="--boundary-reach 0" python bench/distributed/shared_data_ari.py   # options for the mpirun runs
Needs build/release/chutoro built with MPI, Open MPI's mpirun, scikit-learn.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "build" / "release" / "chutoro"
DATA = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data"
SETS = [  # file, options
    ("clusterable_data.npy", []),
    ("digits.csv", ["--label-column", "label", "--min-cluster-size", "10"]),
    ("chameleon_ds3.csv", ["--min-cluster-size", "20"]),
    ("letter.csv", ["--label-column", "label", "--min-cluster-size", "20"]),
    ("shuttle.csv", ["--label-column", "label", "--min-cluster-size", "20"]),
    ("words_en.txt", ["--min-cluster-size", "10", "--min-samples", "5"]),  # every 10th word, levenshtein
]
ONLY = os.environ.get("ONLY")  # run one data set
EXTRA = os.environ.get("EXTRA", "").split()  # more options for the distributed runs
ENV = dict(
    os.environ,
    OMPI_ALLOW_RUN_AS_ROOT="1",
    OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
    OMP_NUM_THREADS="1",
    OMP_WAIT_POLICY="PASSIVE",
    OMPI_MCA_mpi_yield_when_idle="1",
    OMPI_MCA_btl="self,vader",
    OMPI_MCA_btl_vader_single_copy_mechanism="none",
)


def run(prefix: list[str], path: Path, opts: list[str], out: Path) -> dict:
    cmd = prefix + [str(CLI), "cluster", "--candidates", "hnsw", str(path), *opts, "--threads", "1", "--json",
                    "--output", str(out)]
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


def labels(path: Path) -> np.ndarray:
    return np.loadtxt(path, delimiter=",", skiprows=1, usecols=0, dtype=np.int64)


def main() -> None:
    print("| data set | P | replication | boundary queries / item | distances (x one process) | bytes sent / item | ARI vs one process | each rank read |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        for name, opts in SETS:
            if ONLY and name != ONLY:
                continue
            path = DATA / name
            if name == "words_en.txt":
                words = path.read_text(encoding="utf-8").splitlines()[::10]
                path = t / "words_every_10th.txt"
                path.write_text("\n".join(words) + "\n", encoding="utf-8")
            one = run([], path, opts, t / "one.csv")
            ref = labels(t / "one.csv")
            for np_ in (2, 4, 8):
                r = run(["mpirun", "-np", str(np_), "--oversubscribe"], path, opts + EXTRA, t / "p.csv")
                d = r["distributed"]
                ari = adjusted_rand_score(ref, labels(t / "p.csv"))
                print(
                    f"| {name} ({one['n']:,} x {one.get('dim') or 'str'}) | {np_} | {d['replication']:.2f} | "
                    f"{sum(x['boundary']['queries'] for x in d['per_rank']) / one['n']:.2f} | "
                    f"{r['distance_computations'] / one['distance_computations']:.2f} | "
                    f"{d['bytes_sent'] / one['n']:.0f} | {ari:.4f} | {'byte ranges' if d.get('input_cut_by_bytes') else 'npy rows' if name.endswith('.npy') else 'whole'} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
