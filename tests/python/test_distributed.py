"""The Python door of distributed FISHDBC: FISHDBC.fit(part, comm=...) through
mpi4py (docs/distributed.md). The cases under mpirun start
`mpirun -np P python mpi_fit.py OUT` (about 10 s each on 2 cores) and compare
rank 0's gathered result with the one-process fit here; they skip, naming
why, without mpirun or mpi4py."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

import chutoro

HERE = Path(__file__).resolve().parent


def _mpirun() -> str:
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        pytest.skip("mpirun not found (Open MPI: scripts/install_deps.sh installs openmpi-bin)")
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed (pip install mpi4py; scripts/python_env.sh installs it where mpirun is)")
    return mpirun


def _run(np_: int, tmp_path: Path) -> dict[str, np.ndarray]:
    mpirun = _mpirun()
    out = tmp_path / f"np{np_}.npz"
    env = dict(os.environ)
    # As the C++ distributed tests (tests/mpi/CMakeLists.txt): root allowed, ranks on 2 cores share
    # them politely, shared memory between ranks of this machine only.
    env.update(
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OMP_NUM_THREADS="1",
        OMP_WAIT_POLICY="PASSIVE",
        OMPI_MCA_mpi_yield_when_idle="1",
        OMPI_MCA_btl="self,vader",
        OMPI_MCA_btl_vader_single_copy_mechanism="none",
    )
    cmd = [mpirun, "-np", str(np_), "--oversubscribe", sys.executable, str(HERE / "mpi_fit.py"), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    with np.load(out) as z:
        return {k: z[k] for k in z.files}


def _blobs():
    sys.path.insert(0, str(HERE))
    import mpi_fit

    return mpi_fit


@pytest.fixture(scope="module")
def one_process():
    m = _blobs()
    X, S = m.blobs(), m.strings()
    est = chutoro.FISHDBC(min_cluster_size=15, random_state=3, n_jobs=1).fit(X)
    s_est = chutoro.FISHDBC(min_cluster_size=10, metric="levenshtein", random_state=3, n_jobs=1).fit(S)
    same = dict(min_cluster_size=10, candidates="hnsw", random_state=3, n_jobs=1)
    t_est = chutoro.FISHDBC(metric="jaccard", **same).fit(m.token_lines())
    b_est = chutoro.FISHDBC(metric="hamming", **same).fit(m.bits())
    return est, s_est, len(X), t_est, b_est


@pytest.mark.parametrize("ranks", [2, 4])
def test_fit_with_comm_under_mpirun(ranks, tmp_path, one_process):
    r = _run(ranks, tmp_path)
    est, s_est, n, t_est, b_est = one_process
    # Agreement with the one-process fit (the target: ARI >= 0.98).
    assert r["blobs_labels"].shape == (n,)
    assert adjusted_rand_score(est.labels_, r["blobs_labels"]) >= 0.98
    assert len(np.unique(r["blobs_labels"][r["blobs_labels"] >= 0])) == len(np.unique(est.labels_[est.labels_ >= 0]))
    assert np.all((r["blobs_probabilities"] >= 0) & (r["blobs_probabilities"] <= 1))
    assert adjusted_rand_score(s_est.labels_, r["strings_labels"]) >= 0.98
    # Token sets (each rank numbers its own tokens) and bit vectors at overlap = P: the one-process result.
    assert len(np.unique(t_est.labels_)) >= 3 and len(np.unique(b_est.labels_)) >= 3
    np.testing.assert_array_equal(r["tokens_labels"], t_est.labels_)
    np.testing.assert_array_equal(r["tokens_outlier_scores"], t_est.outlier_scores_)
    np.testing.assert_array_equal(r["bits_labels"], b_est.labels_)
    np.testing.assert_array_equal(r["bits_outlier_scores"], b_est.outlier_scores_)
    # Same seed and P: the same result, bit for bit.
    assert int(r["blobs_deterministic"]) == 1
    # Each rank held its own rows: global offsets in rank order, rank 0 saw every rank's stats.
    assert list(r["blobs_firsts"]) == [n * k // ranks for k in range(ranks)]
    assert int(r["blobs_n"]) == n and int(r["blobs_ranks_stats"]) == ranks
    assert len(r["blobs_persistence"]) == len(np.unique(r["blobs_labels"][r["blobs_labels"] >= 0]))
    # One rank over COMM_SELF is chutoro.fit's result exactly.
    np.testing.assert_array_equal(r["self_labels"], est.labels_)
    np.testing.assert_array_equal(r["self_probabilities"], est.probabilities_)
    np.testing.assert_array_equal(r["self_outlier_scores"], est.outlier_scores_)
    # A failure on one rank: every rank raises the same error, naming that rank.
    last = ranks - 1
    nan = list(r["nan_errors"])
    assert len(nan) == ranks and len(set(nan)) == 1, nan
    assert nan[0].startswith(f"ValueError: rank {last}: ") and "NaN" in nan[0], nan[0]
    assert f"starts at global row {n * last // ranks}" in nan[0], nan[0]
    mismatch = list(r["mismatch_errors"])
    assert len(mismatch) == ranks and len(set(mismatch)) == 1, mismatch
    assert mismatch[0].startswith(f"ValueError: rank {last}: ") and "min_cluster_size" in mismatch[0], mismatch[0]


def test_comm_needs_mpi4py(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # `from mpi4py import MPI` raises ImportError
    X = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(ImportError, match="mpi4py"):
        chutoro.FISHDBC().fit(X, comm=object())


def test_distributed_options_need_comm():
    X = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(TypeError, match="only with comm="):
        chutoro.FISHDBC().fit(X, overlap=3)
    with pytest.raises(ImportError if importlib.util.find_spec("mpi4py") is None else TypeError, match="mpi4py"):
        chutoro.FISHDBC().fit_predict(X, comm=object())  # passed on to fit
