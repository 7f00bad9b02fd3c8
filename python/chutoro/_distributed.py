"""FISHDBC across MPI processes from Python, through mpi4py (docs/distributed.md).

``chutoro.FISHDBC(...).fit(X_part, comm=MPI.COMM_WORLD)`` under
``mpirun -np P python script.py``: each rank passes its own rows, and the
ranks' rows in rank order are the data set. The extension never links MPI:
the distributed algorithm (compiled into ``chutoro._core``) calls the
collectives of :class:`_Transport`, which runs them on a duplicate of the
caller's mpi4py communicator. mpi4py is imported only when ``comm`` is given.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

import numpy as np

from chutoro import _core

# Messages go in pieces of at most 1 GiB (MPI counts are C ints).
_PIECE = 1 << 30
_TAG_ALLTOALLV, _TAG_GATHER, _TAG_SIZE, _TAG_P2P = 7101, 7102, 7103, 7104
# The vector metrics whose items move between ranks (docs/distributed.md, "Metrics"):
# dense rows (k-means centres), product rows and 0/1 rows as bit vectors (pivots).
_VECTOR_METRICS = ("euclidean", "cosine", "manhattan", "inner_product", "angular", "hamming", "tanimoto")


def _mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(
            "fit(..., comm=...) runs FISHDBC across MPI processes through mpi4py, which is not installed: "
            "`pip install mpi4py` (it builds against the system's MPI, e.g. Debian's libopenmpi-dev)"
        ) from e
    return MPI


class _Transport:
    """The collective layer of chutoro::distributed over an mpi4py intracommunicator.

    Every method is collective over the group except send/receive, and moves
    bytes (the algorithm's own encoding). A failure of MPI itself cannot be
    agreed on (the peers may be inside another call), so it ends the job with
    ``Abort`` after printing the cause, as MPI's default error handler does.
    """

    def __init__(self, comm: Any) -> None:
        MPI = _mpi()
        self._MPI = MPI
        # A private communicator (the library habit): the fit's messages never
        # match the caller's pending ones.
        self.comm = comm.Dup()
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self._ops = (MPI.SUM, MPI.MIN, MPI.MAX)  # chutoro::distributed::reduce_op

    def free(self) -> None:
        self.comm.Free()

    def _fatal(self, what: str) -> None:
        sys.stderr.write(f"chutoro: rank {self.rank}: MPI {what} failed:\n{traceback.format_exc()}")
        sys.stderr.flush()
        self.comm.Abort(1)

    def _isend(self, data: memoryview, peer: int, tag: int, reqs: list) -> None:
        for at in range(0, len(data), _PIECE):
            reqs.append(self.comm.Isend([data[at : at + _PIECE], self._MPI.BYTE], dest=peer, tag=tag))

    def _irecv(self, data: memoryview, peer: int, tag: int, reqs: list) -> None:
        for at in range(0, len(data), _PIECE):
            reqs.append(self.comm.Irecv([data[at : at + _PIECE], self._MPI.BYTE], source=peer, tag=tag))

    def alltoallv(self, parts: list[bytes]) -> list[Any]:
        try:
            out = np.array([len(b) for b in parts], dtype=np.uint64)
            into = np.empty(self.size, dtype=np.uint64)
            self.comm.Alltoall(out, into)
            got: list[Any] = [bytearray(int(n)) for n in into]
            reqs: list = []
            for r in range(self.size):
                if r != self.rank:
                    self._irecv(memoryview(got[r]), r, _TAG_ALLTOALLV, reqs)
            for r in range(self.size):
                if r != self.rank:
                    self._isend(memoryview(parts[r]), r, _TAG_ALLTOALLV, reqs)
            self._MPI.Request.Waitall(reqs)
            got[self.rank] = parts[self.rank]
            return got
        except Exception:
            self._fatal("all-to-all")
            raise

    def allreduce(self, values: bytes, dtype: str, op: int) -> bytes:
        try:
            a = np.frombuffer(values, dtype=np.dtype(dtype)).copy()
            self.comm.Allreduce(self._MPI.IN_PLACE, a, op=self._ops[op])
            return a.tobytes()
        except Exception:
            self._fatal("all-reduce")
            raise

    def broadcast(self, data: bytes | None, root: int) -> Any:
        try:
            n = np.array([len(data) if self.rank == root else 0], dtype=np.uint64)
            self.comm.Bcast(n, root=root)
            buf = memoryview(data) if self.rank == root else memoryview(bytearray(int(n[0])))
            for at in range(0, len(buf), _PIECE):
                self.comm.Bcast([buf[at : at + _PIECE], self._MPI.BYTE], root=root)
            return buf
        except Exception:
            self._fatal("broadcast")
            raise

    def gather(self, data: bytes, root: int) -> list[Any] | None:
        try:
            n = np.array([len(data)], dtype=np.uint64)
            sizes = np.empty(self.size if self.rank == root else 0, dtype=np.uint64)
            self.comm.Gather(n, sizes if self.rank == root else None, root=root)
            reqs: list = []
            got: list[Any] | None = None
            if self.rank == root:
                got = [bytearray(int(s)) for s in sizes]
                for r in range(self.size):
                    if r != root:
                        self._irecv(memoryview(got[r]), r, _TAG_GATHER, reqs)
                got[root] = data
            else:
                self._isend(memoryview(data), root, _TAG_GATHER, reqs)
            self._MPI.Request.Waitall(reqs)
            return got
        except Exception:
            self._fatal("gather")
            raise

    def send(self, data: bytes, to: int) -> None:
        try:
            self.comm.Send(np.array([len(data)], dtype=np.uint64), dest=to, tag=_TAG_SIZE)
            reqs: list = []
            self._isend(memoryview(data), to, _TAG_P2P, reqs)
            self._MPI.Request.Waitall(reqs)
        except Exception:
            self._fatal("send")
            raise

    def receive(self, source: int) -> Any:
        try:
            n = np.empty(1, dtype=np.uint64)
            self.comm.Recv(n, source=source, tag=_TAG_SIZE)
            got = bytearray(int(n[0]))
            reqs: list = []
            self._irecv(memoryview(got), source, _TAG_P2P, reqs)
            self._MPI.Request.Waitall(reqs)
            return got
        except Exception:
            self._fatal("receive")
            raise


def _check_comm(comm: Any) -> Any:
    if not type(comm).__module__.startswith("mpi4py"):
        # Not a communicator: say so without importing mpi4py.MPI, whose import
        # initialises MPI in this process (and its environment, which every
        # subprocess then inherits, would make a `chutoro` CLI child believe it
        # runs under mpirun). The package itself is imported to tell a missing
        # mpi4py apart.
        try:
            import mpi4py  # noqa: F401
        except ImportError:
            _mpi()  # raises the ImportError that names the fix
        raise TypeError(f"comm must be an mpi4py communicator such as MPI.COMM_WORLD (got {type(comm).__name__})")
    MPI = _mpi()
    if not isinstance(comm, MPI.Comm):
        raise TypeError(f"comm must be an mpi4py communicator such as MPI.COMM_WORLD (got {type(comm).__name__})")
    if comm == MPI.COMM_NULL or comm.Is_inter():
        raise ValueError("comm must be an intracommunicator (e.g. MPI.COMM_WORLD), not COMM_NULL or an intercommunicator")
    return MPI


def _agree(comm: Any, failure: BaseException | None, rows: int | None) -> None:
    """Every rank learns whether preparing the fit failed anywhere, and raises
    the lowest failing rank's error type with its message (collective).
    `rows`: this rank's row count where known (to name the global row)."""
    mine = (rows, None if failure is None else (type(failure).__name__, str(failure)))
    everyone = comm.allgather(mine)
    for rank, (_, got) in enumerate(everyone):
        if got is None:
            continue
        name, text = got
        more = sum(g is not None for _, g in everyone) - 1
        text = f"rank {rank}: {text}"
        before = [n for n, _ in everyone[:rank]]
        if "row" in text and None not in before:
            text += f" (rows count from this rank's part, which starts at global row {sum(before)})"
        text += f" (and {more} more rank{'s' if more > 1 else ''})" if more else ""
        kind = {"TypeError": TypeError, "NotImplementedError": NotImplementedError, "OSError": OSError}.get(
            name, ValueError
        )
        if failure is not None and rank == comm.Get_rank():
            raise kind(text) from failure
        raise kind(text)


def fit(est: Any, X: Any, comm: Any, overlap: int, replication_margin: float | None) -> Any:
    """FISHDBC.fit(X, comm=...): see the estimator's docstring. Collective."""
    from chutoro import _estimator as e

    _check_comm(comm)
    source = None
    failure = None
    try:
        p = est._check_params()
        if p["non_finite"] != "raise":
            raise NotImplementedError("non_finite='label' or 'noise' with comm=: drop or fix the rows before fit")
        if p["candidates"] == "exact":
            raise NotImplementedError("candidates='exact' with comm=: the distributed fit builds FISHDBC (hnsw)")
        metric = p["metric"]
        if not (metric in _VECTOR_METRICS or metric in ("levenshtein", "jaccard")):
            raise NotImplementedError(
                f"metric={metric!r} with comm=: the distributed fit takes {', '.join(_VECTOR_METRICS)} (vectors), "
                "levenshtein or jaccard (strings)"
            )
        overlap = e._int_param("overlap", overlap, 1)
        margin = float("inf") if replication_margin is None else float(replication_margin)
        if not margin >= 0:
            raise ValueError(f"replication_margin must be None or a number >= 0 (got {replication_margin!r})")
        X = e._select_columns(X, est.columns, fitted_names=None)
        if metric == "levenshtein":
            source = _core.StringSource(e._as_strings(X))
        elif metric == "jaccard":
            # Each rank numbers its own tokens; the items move between ranks as their tokens.
            source = _core.TokenVocabulary().source(e._as_strings(X, metric))
        else:
            X = e._validate_dense(est, X, reset=True)
            source = e._dense_source(e._dense_float32(X), e._DENSE_METRICS[metric], p["metric_params"])
        if len(source) == 0:
            raise ValueError("X: this rank's part is empty; every rank must pass at least one row")
    except Exception as err:  # every rank must learn of it before any collective of the fit
        failure = err
    try:
        rows = len(X)
    except Exception:  # noqa: BLE001 - only to name a global row in a message
        rows = None
    _agree(comm, failure, rows)
    transport = _Transport(comm)
    try:
        r = _core.distributed_fit(
            source,
            transport,
            min_cluster_size=p["min_cluster_size"],
            min_samples=p["min_samples"],
            cluster_selection_method=p["cluster_selection_method"],
            cluster_selection_epsilon=p["cluster_selection_epsilon"],
            allow_single_cluster=p["allow_single_cluster"],
            m=p["m"],
            ef_construction=p["ef_construction"],
            seed=p["seed"],
            threads=p["threads"],
            max_cluster_size=p["max_cluster_size"],
            cluster_selection_persistence=p["cluster_selection_persistence"],
            cluster_selection_epsilon_max=p["cluster_selection_epsilon_max"],
            overlap=overlap,
            replication_margin=margin,
            identity=f"python {metric}",
        )
    finally:
        transport.free()
    est.labels_ = np.asarray(r["labels"]).astype(np.intp)
    est.probabilities_ = np.asarray(r["probabilities"])
    est.outlier_scores_ = np.asarray(r["outlier_scores"])
    est.cluster_persistence_ = np.asarray(r["cluster_persistence"])
    est.distributed_ = {
        "n": int(r["n"]),
        "first": int(r["first"]),
        "ranks": int(r["ranks"]),
        "stats": dict(r["stats"]),
        "all_ranks": [dict(s) for s in r["all_ranks"]],
    }
    return est
