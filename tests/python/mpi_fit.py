"""Run under mpirun by test_distributed.py: chutoro.FISHDBC(...).fit(part, comm=...)
on every rank, then rank 0 writes what the test checks to OUT (a .npz).

    mpirun -np P python tests/python/mpi_fit.py OUT

Cases (each collective over COMM_WORLD, in this order):
- blobs: each rank passes its rows of blobs(); fitted twice with the same
  seed (determinism); rank 0 gathers labels, probabilities, outlier scores.
- strings: the same for levenshtein on strings().
- tokens, bits: jaccard on token_lines() and hamming on bits() with overlap = P.
- self: rank 0 alone fits all blobs over COMM_SELF (P = 1: chutoro.fit's result).
- nan: rank P-1's part holds a NaN: every rank must raise, naming rank P-1.
- mismatch: rank P-1 asks another min_cluster_size: every rank must raise.
"""

from __future__ import annotations

import sys

from typing import Any

import numpy as np

import chutoro


def blobs() -> np.ndarray:
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n_samples=1500, n_features=6, centers=5, cluster_std=0.6, random_state=11)
    return X.astype(np.float32)


def strings() -> list[str]:
    rng = np.random.default_rng(5)
    roots = ["chutoro", "fishdbc", "hdbscan", "clustering"]
    out = []
    for i in range(240):
        s = list(roots[i % len(roots)])
        for _ in range(int(rng.integers(0, 3))):
            s[int(rng.integers(0, len(s)))] = "abcdefghij"[int(rng.integers(0, 10))]
        out.append("".join(s))
    return out


def token_lines() -> list[str]:
    rng = np.random.default_rng(8)
    return [
        " ".join(f"t{i % 4}w{int(w)}" for w in rng.choice(12, 5, replace=False)) + f" rare{int(rng.integers(150))}"
        for i in range(320)
    ]


def bits() -> np.ndarray:
    rng = np.random.default_rng(9)
    protos = rng.integers(0, 2, (4, 64))
    rows = protos[np.arange(320) % 4].copy()
    flips = rng.integers(0, 64, (320, 3))
    for i in range(320):
        rows[i, flips[i]] ^= 1
    return rows.astype(np.float32)


def part(n: int, rank: int, size: int) -> slice:
    return slice(n * rank // size, n * (rank + 1) // size)


def fitted(est: chutoro.FISHDBC) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return est.labels_, est.probabilities_, est.outlier_scores_


def gathered(comm: Any, arrays: tuple[np.ndarray, ...]) -> list[np.ndarray] | None:
    got = comm.gather(arrays, root=0)
    if comm.rank != 0:
        return None
    return [np.concatenate([g[i] for g in got]) for i in range(len(arrays))]


def failure(comm: Any, work) -> list | None:
    try:
        work()
        mine = ("no error", "")
    except Exception as e:  # noqa: BLE001 - the test checks its type and text
        mine = (type(e).__name__, str(e))
    return comm.gather(mine, root=0)


def main() -> None:
    from mpi4py import MPI  # here, not at import: test_distributed.py imports this module for its data

    out = sys.argv[1]
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    res: dict[str, np.ndarray] = {}

    X = blobs()
    mine = X[part(len(X), rank, size)]
    est = chutoro.FISHDBC(min_cluster_size=15, random_state=3, n_jobs=1)
    first = fitted(est.fit(mine, comm=comm))
    second = fitted(chutoro.FISHDBC(min_cluster_size=15, random_state=3, n_jobs=1).fit(mine, comm=comm))
    same = all(np.array_equal(a, b, equal_nan=True) for a, b in zip(first, second))
    all_same = comm.allreduce(int(same), op=MPI.MIN)
    g = gathered(comm, first)
    info = est.distributed_
    firsts = comm.gather(info["first"], root=0)
    if rank == 0:
        res["blobs_labels"], res["blobs_probabilities"], res["blobs_outlier_scores"] = g
        res["blobs_deterministic"] = np.array(all_same)
        res["blobs_firsts"] = np.array(firsts)
        res["blobs_n"] = np.array(info["n"])
        res["blobs_ranks_stats"] = np.array(len(info["all_ranks"]))
        res["blobs_persistence"] = est.cluster_persistence_

    S = strings()
    s_est = chutoro.FISHDBC(min_cluster_size=10, metric="levenshtein", random_state=3, n_jobs=1)
    g = gathered(comm, fitted(s_est.fit(S[part(len(S), rank, size)], comm=comm)))
    if rank == 0:
        res["strings_labels"] = g[0]

    # Token sets (jaccard) and 0/1 rows (hamming), every shard holding every
    # item (overlap = P): the one-process result exactly.
    T = token_lines()
    t_est = chutoro.FISHDBC(min_cluster_size=10, metric="jaccard", candidates="hnsw", random_state=3, n_jobs=1)
    g = gathered(comm, fitted(t_est.fit(T[part(len(T), rank, size)], comm=comm, overlap=size)))
    if rank == 0:
        res["tokens_labels"], res["tokens_outlier_scores"] = g[0], g[2]
    B = bits()
    b_est = chutoro.FISHDBC(min_cluster_size=10, metric="hamming", candidates="hnsw", random_state=3, n_jobs=1)
    g = gathered(comm, fitted(b_est.fit(B[part(len(B), rank, size)], comm=comm, overlap=size)))
    if rank == 0:
        res["bits_labels"], res["bits_outlier_scores"] = g[0], g[2]

    if rank == 0:
        one = chutoro.FISHDBC(min_cluster_size=15, random_state=3, n_jobs=1).fit(X, comm=MPI.COMM_SELF)
        res["self_labels"], res["self_probabilities"], res["self_outlier_scores"] = fitted(one)

    bad = mine.copy()
    if rank == size - 1:
        bad[0, 0] = np.nan
    nan = failure(comm, lambda: chutoro.FISHDBC(min_cluster_size=15, n_jobs=1).fit(bad, comm=comm))
    mcs = 16 if rank == size - 1 else 15
    mismatch = failure(comm, lambda: chutoro.FISHDBC(min_cluster_size=mcs, n_jobs=1).fit(mine, comm=comm))
    if rank == 0:
        res["nan_errors"] = np.array([f"{t}: {m}" for t, m in nan])
        res["mismatch_errors"] = np.array([f"{t}: {m}" for t, m in mismatch])
        np.savez(out, **res)


if __name__ == "__main__":
    main()
