"""scipy.sparse input: sparse feature matrices (the library's sparse_source, merge-join
kernels) and sparse precomputed distance matrices (missing entries infinite).

Exact mode (candidates="exact") must give the same labels as the dense input; sparse
precomputed input is compared with hdbscan's own sparse precomputed path."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

scipy_sparse = pytest.importorskip("scipy.sparse")

import chutoro  # noqa: E402
from chutoro import FISHDBC  # noqa: E402


def tfidf_like(per_topic: int = 30, topics: int = 3, dim: int = 90, nnz: int = 8, seed: int = 0) -> np.ndarray:
    """Dense rows of TF-IDF-like data: each topic's rows use words of their own part of the
    vocabulary (and a few shared words), positive weights, unit length."""
    rng = np.random.default_rng(seed)
    part = dim // (topics + 1)
    X = np.zeros((per_topic * topics, dim))
    for t in range(topics):
        for i in range(per_topic):
            own = rng.choice(np.arange(t * part, (t + 1) * part), nnz - 2, replace=False)
            shared = rng.choice(np.arange(topics * part, dim), 2, replace=False)
            cols = np.concatenate([own, shared])
            X[t * per_topic + i, cols] = rng.uniform(0.2, 1.0, len(cols))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32).astype(np.float64)


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "manhattan", "l1", "l2", "inner_product"])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_equals_dense_in_exact_mode(metric, fmt):
    X = tfidf_like()
    S = scipy_sparse.csr_matrix(X).asformat(fmt)
    kw = dict(min_cluster_size=10, min_samples=5, candidates="exact", metric=metric)
    dense = FISHDBC(**kw).fit(X)
    sparse = FISHDBC(**kw).fit(S)
    np.testing.assert_array_equal(sparse.labels_, dense.labels_)
    assert sparse.labels_.max() == 2  # the three topics
    np.testing.assert_allclose(sparse.core_distances_, dense.core_distances_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sparse.probabilities_, dense.probabilities_, atol=1e-4)
    assert sparse.n_features_in_ == X.shape[1]
    assert sparse._model.source_kind == "sparse"


def test_sparse_arrays_duplicates_unsorted_and_auto():
    X = tfidf_like(seed=1)
    C = scipy_sparse.coo_array(X)
    # each entry split in two halves (duplicates, summed as scipy densifies them), rows unsorted
    rng = np.random.default_rng(2)
    order = rng.permutation(2 * C.nnz)
    rows = np.concatenate([C.row, C.row])[order]
    cols = np.concatenate([C.col, C.col])[order]
    vals = np.concatenate([C.data / 2, C.data / 2])[order]
    D = scipy_sparse.coo_array((vals, (rows, cols)), shape=X.shape)
    kw = dict(min_cluster_size=10, min_samples=5, metric="cosine")
    ref = FISHDBC(candidates="exact", **kw).fit(X)
    got = FISHDBC(**kw).fit(D)  # auto: all pairs for small n
    assert got.candidates_ == "exact"
    np.testing.assert_array_equal(got.labels_, ref.labels_)
    hnsw = FISHDBC(candidates="hnsw", **kw).fit(scipy_sparse.csr_array(X))
    np.testing.assert_array_equal(hnsw.labels_, ref.labels_)  # well-separated topics


def test_sparse_predict_add_save_pickle(tmp_path):
    X = tfidf_like(seed=3)
    train = np.concatenate([X[:25], X[30:55], X[60:85]])
    new = np.concatenate([X[25:30], X[55:60], X[85:90]])
    kw = dict(min_cluster_size=10, min_samples=5, candidates="exact", metric="cosine")
    dense = FISHDBC(**kw).fit(train)
    sparse = FISHDBC(**kw).fit(scipy_sparse.csr_matrix(train))
    want = dense.approximate_predict(new)
    for given in (scipy_sparse.csr_matrix(new), scipy_sparse.csc_matrix(new), new):
        labels, probabilities = sparse.approximate_predict(given)
        np.testing.assert_array_equal(labels, want[0])
        np.testing.assert_allclose(probabilities, want[1], atol=1e-4)
    np.testing.assert_allclose(sparse.membership_vector(scipy_sparse.csr_matrix(new)), dense.membership_vector(new),
                               atol=1e-4)
    with pytest.raises(ValueError, match="X has 89 features, but FISHDBC is expecting 90"):
        sparse.approximate_predict(scipy_sparse.csr_matrix(new[:, :-1]))
    path = tmp_path / "sparse.chutoro"
    sparse.save(path)
    back = chutoro.load(path)
    assert back.metric == "cosine" and back.n_features_in_ == 90
    np.testing.assert_array_equal(back.labels_, sparse.labels_)
    np.testing.assert_array_equal(back.approximate_predict(scipy_sparse.csr_matrix(new))[0], want[0])
    clone = pickle.loads(pickle.dumps(sparse))
    np.testing.assert_array_equal(clone.labels_, sparse.labels_)
    sparse.partial_fit(scipy_sparse.csr_matrix(new))
    dense.partial_fit(new)
    np.testing.assert_array_equal(sparse.labels_, dense.labels_)


def test_sparse_errors():
    X = scipy_sparse.csr_matrix(tfidf_like())
    bad = X.copy()
    bad.data[bad.indptr[4] + 1] = np.nan
    with pytest.raises(ValueError, match=r"row 4 \(0-based\), column \d+: the value is NaN"):
        FISHDBC(metric="euclidean").fit(bad)
    with pytest.raises(ValueError, match="metric='chebyshev' is not available for sparse X"):
        FISHDBC(metric="chebyshev").fit(X)
    zero = scipy_sparse.csr_matrix(np.vstack([tfidf_like()[:20], np.zeros((1, 90))]))
    with pytest.raises(ValueError, match=r"row 20 \(0-based\) is all zeros; cosine distance is undefined"):
        FISHDBC(metric="cosine").fit(zero)
    FISHDBC(metric="euclidean", min_cluster_size=5).fit(zero)  # a zero row is fine for euclidean
    with pytest.raises(ValueError, match="metric_params: metric='manhattan' does not take 'p'"):
        FISHDBC(metric="manhattan", metric_params={"p": 3}).fit(X)
    with pytest.raises(NotImplementedError, match="non_finite='noise' with sparse X"):
        FISHDBC(non_finite="noise").fit(X)
    with pytest.raises(TypeError, match="sparse values must be real numbers"):
        FISHDBC().fit(X.astype(np.complex64))
    assert {m["name"] for m in chutoro.metrics() if m["sparse"]} == {"euclidean", "cosine", "manhattan",
                                                                       "inner_product"}


def knn_distances(X: np.ndarray, k: int) -> scipy_sparse.csr_matrix:
    """The symmetric k-NN graph of X as a sparse distance matrix (no diagonal)."""
    d = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, axis=1)[:, :k]
    rows = np.repeat(np.arange(len(X)), k)
    G = scipy_sparse.csr_matrix((d[rows, nn.ravel()], (rows, nn.ravel())), shape=d.shape)
    return G.maximum(G.T).tocsr()


def blobs(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [6, 0], [0, 6]])
    X = np.concatenate([c + rng.normal(size=(40, 2)) for c in centres])
    return X.astype(np.float32).astype(np.float64)


def test_sparse_precomputed_agrees_with_hdbscan_and_dense():
    hdbscan = pytest.importorskip("hdbscan")
    X = blobs()
    G = knn_distances(X, 15)
    ours = FISHDBC(metric="precomputed", min_cluster_size=10, min_samples=5).fit(G)
    assert ours.candidates_ == "exact" and ours._model.source_kind == "sparse_precomputed"
    ref = hdbscan.HDBSCAN(metric="precomputed", min_cluster_size=10, min_samples=4).fit(G)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    np.testing.assert_allclose(ours.probabilities_, ref.probabilities_, atol=1e-5)
    # every distance stored: the same clustering as the dense matrix
    full = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    dense = FISHDBC(metric="precomputed", min_cluster_size=10, min_samples=5).fit(full)
    everything = scipy_sparse.csr_matrix(full + np.eye(len(X)))  # the diagonal is never read
    np.testing.assert_array_equal(FISHDBC(metric="precomputed", min_cluster_size=10, min_samples=5).fit(
        everything).labels_, dense.labels_)
    clone = pickle.loads(pickle.dumps(ours))
    np.testing.assert_array_equal(clone.labels_, ours.labels_)


def test_sparse_precomputed_save_load(tmp_path):
    G = knn_distances(blobs(1), 12)
    est = FISHDBC(metric="precomputed", min_cluster_size=10, min_samples=5).fit(G)
    est.save(tmp_path / "m.chutoro")
    with pytest.raises(ValueError, match="not stored in the file"):
        chutoro.load(tmp_path / "m.chutoro")
    back = chutoro.load(tmp_path / "m.chutoro", G)
    np.testing.assert_array_equal(back.labels_, est.labels_)
    with pytest.raises(NotImplementedError, match="metric='precomputed'"):
        est.approximate_predict(G[:3])


def test_sparse_precomputed_errors():
    X = blobs()
    G = knn_distances(X, 15)
    with pytest.raises(ValueError, match="candidates='hnsw' with a sparse precomputed"):
        FISHDBC(metric="precomputed", candidates="hnsw").fit(G)
    two = scipy_sparse.block_diag([G, G]).tocsr()
    with pytest.raises(ValueError, match="2 connected components"):
        FISHDBC(metric="precomputed", min_cluster_size=10, min_samples=5).fit(two)
    with pytest.raises(ValueError, match="fewer than min_samples - 1 = 29"):
        FISHDBC(metric="precomputed", min_cluster_size=10, min_samples=30).fit(G)  # 15 to ~25 neighbours
    asym = G.tolil()
    asym[0, int(G[[0]].indices[0])] += 1.0
    with pytest.raises(ValueError, match=r"X is not symmetric: X\[0, "):
        FISHDBC(metric="precomputed").fit(asym.tocsr())
    neg = G.copy()
    neg.data[0] = -1
    with pytest.raises(ValueError, match=r"X\[0, \d+\] = -1.0; stored distances must be finite and >= 0"):
        FISHDBC(metric="precomputed").fit(neg)
    with pytest.raises(ValueError, match="square"):
        FISHDBC(metric="precomputed").fit(G[:10])


def test_cli_predicts_with_a_sparse_model(tmp_path):
    """A sparse model saved from Python: the CLI's predict reads dense CSV rows, keeps their non-zero
    entries as sparse rows of the model's metric, and predicts what Python predicts."""
    import os
    import subprocess
    from pathlib import Path

    cli = Path(os.environ.get("CHUTORO_CLI") or Path(__file__).resolve().parents[2] / "build/release/chutoro")
    if not cli.exists():
        pytest.skip(f"{cli} is not built")
    X = tfidf_like(seed=4)
    new = X[::9]
    est = FISHDBC(min_cluster_size=10, min_samples=5, candidates="exact", metric="cosine").fit(
        scipy_sparse.csr_matrix(X))
    model, new_path = tmp_path / "sparse.chutoro", tmp_path / "new.csv"
    est.save(model)
    np.savetxt(new_path, new, delimiter=",", header=",".join(f"w{k}" for k in range(90)), comments="", fmt="%.9g")
    r = subprocess.run([str(cli), "predict", str(model), str(new_path), "--output", "-", "--quiet"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = np.loadtxt(r.stdout.splitlines()[1:], delimiter=",", usecols=0, dtype=int)
    np.testing.assert_array_equal(got, est.approximate_predict(scipy_sparse.csr_matrix(new))[0])
    assert (got >= 0).all()  # rows of the fitted data: in their clusters
