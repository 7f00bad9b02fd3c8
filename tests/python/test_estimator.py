"""The estimator chutoro.FISHDBC: scikit-learn conformance, hdbscan-shaped
attributes, parameter and input validation, and its inputs (dense, strings,
precomputed, callable)."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted

import chutoro
from chutoro import _core
from chutoro._estimator import _dense_float32

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=600, centers=4, cluster_std=0.6, random_state=3)
    return X, y


# ----------------------------------------------------------- the package
def test_version_is_single_sourced_from_cmake():
    text = (REPO / "CMakeLists.txt").read_text()
    cmake_version = re.search(r"project\(chutoro\s+VERSION\s+([0-9.]+)", text).group(1)
    assert chutoro.__version__ == cmake_version
    assert importlib.metadata.version("chutoro") == cmake_version


def test_type_stubs_are_installed():
    pkg = Path(chutoro.__file__).parent
    assert (pkg / "py.typed").is_file()
    stub = (pkg / "_core.pyi").read_text()
    assert "def fit(" in stub and "class DenseSource" in stub


# ------------------------------------------------- scikit-learn conformance
@parametrize_with_checks([chutoro.FISHDBC(), chutoro.FISHDBC(candidates="exact")])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_attributes_have_hdbscans_shapes_and_dtypes(blobs):
    import hdbscan

    X, _ = blobs
    c = chutoro.FISHDBC(min_cluster_size=10).fit(X)
    h = hdbscan.HDBSCAN(min_cluster_size=10, gen_min_span_tree=True).fit(X)
    n = len(X)
    for name in ("labels_", "probabilities_", "outlier_scores_", "cluster_persistence_"):
        assert getattr(c, name).dtype == getattr(h, name).dtype, name
        assert getattr(c, name).ndim == 1
    assert c.labels_.shape == c.probabilities_.shape == c.outlier_scores_.shape == (n,)
    assert c.cluster_persistence_.shape == (c.labels_.max() + 1,)
    assert c.condensed_tree_.to_numpy().dtype == h.condensed_tree_.to_numpy().dtype
    assert c.single_linkage_tree_.to_numpy().shape == h.single_linkage_tree_.to_numpy().shape == (n - 1, 4)
    assert c.single_linkage_tree_.to_numpy().dtype == h.single_linkage_tree_.to_numpy().dtype
    assert c.minimum_spanning_tree_.to_numpy().shape == h.minimum_spanning_tree_.to_numpy().shape == (n - 1, 3)
    assert c.core_distances_.shape == (n,)
    assert set(c.fit_stats_) >= {"distance_computations", "seconds_graph", "seconds_mst", "seconds_hierarchy"}
    assert adjusted_rand_score(c.labels_, h.labels_) > 0.95


def test_fit_predict_and_determinism(blobs):
    X, y = blobs
    a = chutoro.FISHDBC(min_cluster_size=10)
    labels = a.fit_predict(X)
    assert np.array_equal(labels, a.labels_)
    assert np.array_equal(labels, chutoro.FISHDBC(min_cluster_size=10).fit(X).labels_)
    assert np.array_equal(labels, chutoro.FISHDBC(min_cluster_size=10, random_state=42).fit(X).labels_)
    assert adjusted_rand_score(y, labels) > 0.9


def test_threads_do_not_change_the_result(blobs):
    X, _ = blobs
    for candidates in ("hnsw", "exact"):
        one = chutoro.FISHDBC(candidates=candidates, n_jobs=1).fit(X)
        two = chutoro.FISHDBC(candidates=candidates, n_jobs=2).fit(X)
        every = chutoro.FISHDBC(candidates=candidates, n_jobs=-1).fit(X)
        default = chutoro.FISHDBC(candidates=candidates).fit(X)  # n_jobs=None: all cores
        assert np.array_equal(one.labels_, two.labels_) and np.array_equal(one.labels_, every.labels_)
        assert np.array_equal(one.labels_, default.labels_)
        assert np.array_equal(one.minimum_spanning_tree_.to_numpy(), two.minimum_spanning_tree_.to_numpy())


def test_n_jobs_none_means_the_openmp_default():
    # None hands 0 to the library: the calling thread's OpenMP default, all
    # cores unless OMP_NUM_THREADS or threadpoolctl lowers it (scikit-learn's
    # OpenMP estimators); ints follow joblib.
    from joblib import effective_n_jobs

    from chutoro._estimator import _threads

    assert _threads(None) == 0
    assert _threads(1) == 1 and _threads(3) == 3
    assert _threads(-1) == effective_n_jobs(-1) >= 1


def test_unfitted_estimator():
    c = chutoro.FISHDBC()
    with pytest.raises(NotFittedError):
        check_is_fitted(c)
    assert not hasattr(c, "labels_")


# --------------------------------------------------------- parameters
@pytest.mark.parametrize(
    "params,error,message",
    [
        ({"min_cluster_size": 1}, ValueError, r"min_cluster_size must be >= 2 \(got 1\)"),
        ({"min_cluster_size": 2.5}, TypeError, r"min_cluster_size must be an int"),
        ({"min_cluster_size": True}, TypeError, r"min_cluster_size must be an int"),
        ({"min_samples": 0}, ValueError, r"min_samples must be >= 1 \(got 0\)"),
        ({"min_samples": "5"}, TypeError, r"min_samples must be an int"),
        ({"metric": "dice"}, ValueError, r"metric: unknown value 'dice'"),
        ({"metric": 3}, TypeError, r"metric must be a str or a callable"),
        ({"cluster_selection_method": "max"}, ValueError,
         r"cluster_selection_method: unknown value 'max' \(expected eom or leaf\)"),
        ({"cluster_selection_epsilon": -0.5}, ValueError, r"cluster_selection_epsilon must be a finite number >= 0"),
        ({"cluster_selection_epsilon": float("nan")}, ValueError, r"cluster_selection_epsilon must be a finite"),
        ({"cluster_selection_epsilon": "0"}, TypeError, r"cluster_selection_epsilon must be a number"),
        ({"allow_single_cluster": "yes"}, TypeError, r"allow_single_cluster must be a bool"),
        ({"candidates": "brute"}, ValueError, r"candidates: unknown value 'brute' \(expected auto or hnsw or exact or knn\)"),
        ({"m": 1}, ValueError, r"m \(HNSW links per node\) must be in \[2, 1024\] \(got 1\)"),
        ({"m": 5000}, ValueError, r"must be in \[2, 1024\] \(got 5000\)"),
        ({"ef_construction": 0}, ValueError, r"ef_construction must be in \[1, 100000\] \(got 0\)"),
        ({"random_state": -1}, ValueError, r"random_state must be in \[0, 2\*\*64\)"),
        ({"random_state": "seed"}, TypeError, r"random_state must be None, an int"),
        ({"n_jobs": 1.5}, TypeError, r"n_jobs must be an int or None"),
    ],
)
def test_bad_parameters(blobs, params, error, message):
    X, _ = blobs
    est = chutoro.FISHDBC(**params)
    with pytest.raises(error, match=message):
        est.fit(X)
    assert not hasattr(est, "labels_")


def test_random_state_objects(blobs):
    X, _ = blobs
    a = chutoro.FISHDBC(random_state=np.random.RandomState(0)).fit(X)
    b = chutoro.FISHDBC(random_state=np.random.default_rng(0)).fit(X)
    assert a.labels_.shape == b.labels_.shape == (len(X),)


# ------------------------------------------------------------- inputs
def test_c_contiguous_float32_is_not_copied():
    X = np.random.default_rng(0).random((200, 3), dtype=np.float32)
    assert _dense_float32(X) is X
    est = chutoro.FISHDBC()
    from sklearn.utils.validation import validate_data

    checked = validate_data(est, X, dtype=[np.float32, np.float64], order="C", ensure_all_finite=False)
    assert checked is X or np.shares_memory(checked, X)
    # float64 is rounded once to float32, and gives the same clustering as the rounded data
    X64 = X.astype(np.float64)
    assert np.array_equal(chutoro.FISHDBC().fit(X64).labels_, chutoro.FISHDBC().fit(X).labels_)


def test_array_likes_and_dtypes(blobs):
    X, _ = blobs
    ref = chutoro.FISHDBC().fit(X).labels_
    assert np.array_equal(chutoro.FISHDBC().fit(X.tolist()).labels_, ref)
    assert np.array_equal(chutoro.FISHDBC().fit(np.asfortranarray(X)).labels_, ref)
    assert np.array_equal(chutoro.FISHDBC().fit(X[::1].copy(order="F").astype(np.float32)).labels_, ref)
    Xi = np.round(X * 10).astype(np.int64)
    assert chutoro.FISHDBC().fit(Xi).labels_.shape == (len(X),)


def test_dataframe_input_records_feature_names(blobs):
    import pandas as pd

    X, _ = blobs
    df = pd.DataFrame(X, columns=["a", "b"])
    c = chutoro.FISHDBC().fit(df)
    assert list(c.feature_names_in_) == ["a", "b"] and c.n_features_in_ == 2


@pytest.mark.parametrize(
    "X,error,message",
    [
        (np.array([[0.0, 1.0], [np.nan, 2.0]] * 5), ValueError, r"row 1, column 0 is NaN"),
        (np.array([[0.0, 1.0], [1.0, np.inf]] * 5), ValueError, r"row 1, column 1 is infinite"),
        (np.array([[0.0, 1e300]] * 10), ValueError, r"row 0, column 1 is 1e\+300, beyond float32's range"),
        (np.zeros((0, 3)), ValueError, r"0 sample"),
        (np.zeros((1, 3)), ValueError, r"X has 1 sample; clustering needs at least 2"),
            (np.zeros(10), ValueError, r"Expected 2D array, got 1D array"),
        (np.zeros((10, 2), dtype=complex), ValueError, r"Complex data not supported"),
        ([["a", "b"]] * 10, ValueError, r"could not convert string to float"),
    ],
)
def test_bad_dense_input(X, error, message):
    with pytest.raises(error, match=message):
        chutoro.FISHDBC().fit(X)


def test_sparse_input_needs_a_sparse_metric():
    """Sparse X is supported (tests/python/test_sparse.py) for the metrics the table marks sparse."""
    import scipy.sparse

    X = scipy.sparse.random(20, 3, density=0.5, format="csr", random_state=0)
    assert len(chutoro.FISHDBC(min_cluster_size=3).fit(X).labels_) == 20
    with pytest.raises(ValueError, match="metric='chebyshev' is not available for sparse X"):
        chutoro.FISHDBC(metric="chebyshev").fit(X)


def test_min_samples_above_n_is_capped_as_hdbscan():
    """hdbscan caps its k at n - 1 (chutoro's n): the fit equals min_samples=n."""
    X = np.random.default_rng(0).random((8, 2))
    a = chutoro.FISHDBC(min_cluster_size=3, min_samples=9, candidates="exact").fit(X)
    b = chutoro.FISHDBC(min_cluster_size=3, min_samples=8, candidates="exact").fit(X)
    np.testing.assert_array_equal(a.core_distances_, b.core_distances_)
    np.testing.assert_array_equal(a.labels_, b.labels_)


def test_fewer_items_than_min_cluster_size_is_all_noise():
    """hdbscan and scikit-learn give all noise when no group can reach min_cluster_size."""
    X = np.random.default_rng(0).random((4, 3))
    est = chutoro.FISHDBC(min_cluster_size=5).fit(X)
    np.testing.assert_array_equal(est.labels_, [-1, -1, -1, -1])
    np.testing.assert_array_equal(est.probabilities_, np.zeros(4))
    assert est.cluster_persistence_.shape == (0,)
    hdbscan = pytest.importorskip("hdbscan")
    assert (hdbscan.HDBSCAN(min_cluster_size=5).fit(X).labels_ == -1).all()


def test_metrics_and_aliases(blobs):
    X, _ = blobs
    for metric, alias in (("euclidean", "l2"), ("manhattan", "l1"), ("manhattan", "cityblock")):
        assert np.array_equal(chutoro.FISHDBC(metric=metric).fit(X).labels_,
                              chutoro.FISHDBC(metric=alias).fit(X).labels_)
    c = chutoro.FISHDBC(metric="cosine").fit(X + 100)
    assert c.labels_.shape == (len(X),)
    with pytest.raises(ValueError, match=r"row 0 is all zeros; cosine distance is undefined"):
        chutoro.FISHDBC(metric="cosine").fit(np.zeros((10, 3)))


def test_dense_metrics_equal_precomputed(blobs):
    from sklearn.metrics import pairwise_distances

    X, _ = blobs
    X32 = X.astype(np.float32)
    for metric in ("euclidean", "manhattan"):
        D = pairwise_distances(X32.astype(np.float64), metric=metric).astype(np.float32)
        D = np.minimum(D, D.T)  # exactly symmetric
        dense = chutoro.FISHDBC(metric=metric, candidates="exact", min_samples=2).fit(X32)
        pre = chutoro.FISHDBC(metric="precomputed", candidates="exact", min_samples=2).fit(D)
        assert adjusted_rand_score(dense.labels_, pre.labels_) == 1.0
        np.testing.assert_allclose(dense.probabilities_, pre.probabilities_, atol=1e-5)


@pytest.mark.parametrize("candidates", ["hnsw", "exact"])
@pytest.mark.parametrize("metric", ["euclidean", "cosine", "manhattan"])
def test_extreme_scales_give_the_labels_of_scale_one(blobs, metric, candidates):
    # Issue 15, defect 6: float32 squares of data x 1e20 overflowed, of data x 1e-30 underflowed,
    # and every item came out as noise.
    X, _ = blobs
    X = X.astype(np.float32)
    fit, new = X[:540], X[540:]
    ref = chutoro.FISHDBC(metric=metric, candidates=candidates, min_cluster_size=15).fit(fit)
    assert ref.labels_.max() >= 1
    ref_pred = ref.approximate_predict(new)[0]
    for scale in (1e20, 1e-30, 2.0**100, 2.0**-120):
        c = chutoro.FISHDBC(metric=metric, candidates=candidates, min_cluster_size=15).fit(fit * scale)
        np.testing.assert_array_equal(c.labels_, ref.labels_, err_msg=f"scale {scale}")
        np.testing.assert_array_equal(c.approximate_predict(new * scale)[0], ref_pred, err_msg=f"scale {scale}")


def test_distances_beyond_float32_are_refused_naming_rows_and_column():
    X = np.ones((10, 3), dtype=np.float32)
    X[2, 1], X[7, 1] = 3e38, -3e38  # their difference, 6e38, is beyond float32
    with pytest.raises(ValueError, match=r"column 1 runs from -3e\+38 \(row 7\) to 3e\+38 \(row 2\)"):
        chutoro.FISHDBC().fit(X)
    # Each half alone is fine; predicting the other half from it is refused.
    near = np.full((10, 3), 1.5e38, dtype=np.float32) + np.arange(30, dtype=np.float32).reshape(10, 3) * 1e36
    model = chutoro.FISHDBC(min_cluster_size=2).fit(near)
    with pytest.raises(ValueError, match=r"other source"):
        model.approximate_predict(-near)


@pytest.mark.parametrize(
    "D,message",
    [
        (np.zeros((6, 5)), r"must be a square \(n, n\) matrix \(got 6 x 5\)"),
        (np.where(np.eye(6) > 0, 0.0, -1.0), r"X\[0, 1\] = -1.0 is negative"),
        (np.triu(np.ones((6, 6)), 1), r"X is not symmetric: X\[0, 1\] = 1.0 but X\[1, 0\] = 0.0"),
        (np.full((6, 6), np.nan), r"X\[0, 0\] is nan; distances must be finite"),
    ],
)
def test_bad_precomputed_input(D, message):
    with pytest.raises(ValueError, match=message):
        chutoro.FISHDBC(metric="precomputed").fit(D)


def _levenshtein_py(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def test_levenshtein_is_over_code_points():
    rng = np.random.default_rng(1)
    alphabet = list("abcdé漢字🙂")
    for _ in range(300):
        a = "".join(rng.choice(alphabet, rng.integers(0, 12)))
        b = "".join(rng.choice(alphabet, rng.integers(0, 80)))
        assert _core.levenshtein(a, b) == _levenshtein_py(a, b)


def _words(n=600, seed=0):
    rng = np.random.default_rng(seed)
    stems = ["cluster", "density", "graph", "spanning", "hierarchy", "noise", "sample", "metric"]
    out = []
    for _ in range(n):
        w = list(stems[rng.integers(len(stems))])
        for _ in range(rng.integers(0, 3)):
            w[rng.integers(len(w))] = chr(ord("a") + rng.integers(26))
        out.append("".join(w))
    return out


def test_levenshtein_strings():
    words = _words()
    c = chutoro.FISHDBC(metric="levenshtein", min_cluster_size=10).fit(words)
    assert c.labels_.max() >= 5  # the stems
    assert np.array_equal(chutoro.FISHDBC(metric="levenshtein", min_cluster_size=10).fit(np.array(words)).labels_,
                          c.labels_)
    # the same as a precomputed levenshtein matrix (exact candidates)
    n = 200
    D = np.array([[_core.levenshtein(a, b) for b in words[:n]] for a in words[:n]], dtype=np.float32)
    s = chutoro.FISHDBC(metric="levenshtein", candidates="exact", min_samples=2).fit(words[:n])
    p = chutoro.FISHDBC(metric="precomputed", candidates="exact", min_samples=2).fit(D)
    assert np.array_equal(s.minimum_spanning_tree_.to_numpy(), p.minimum_spanning_tree_.to_numpy())
    assert np.array_equal(s.labels_, p.labels_)


@pytest.mark.parametrize(
    "X,error,message",
    [
        ("just one string", TypeError, r"X is a single str; metric='levenshtein' needs a sequence of str"),
        (["a", "b", 3, "d", "e"], TypeError, r"X\[2\] is int, not str"),
        (["a", b"b", "c", "d", "e"], TypeError, r"X\[1\] is bytes, not str"),
        (["a", "\ud800", "c", "d", "e"], ValueError, r"X\[1\] is not valid Unicode text"),
        ([], ValueError, r"X is empty"),
        (np.array([["a"], ["b"]]), ValueError, r"needs a 1-D sequence of str"),
    ],
)
def test_bad_string_input(X, error, message):
    with pytest.raises(error, match=message):
        chutoro.FISHDBC(metric="levenshtein").fit(X)


def jaccard(a: frozenset, b: frozenset) -> float:
    return 1.0 - len(a & b) / len(a | b)


def test_callable_metric_over_python_objects():
    rng = np.random.default_rng(0)
    groups = [set(rng.choice(100, 12, replace=False)) for _ in range(6)]
    items = []
    for i in range(2000):
        g = set(groups[i % 6])
        for _ in range(3):
            g.discard(next(iter(g)))
            g.add(int(rng.integers(100, 200)))
        items.append(frozenset(g))
    c = chutoro.FISHDBC(metric=jaccard, min_cluster_size=20, n_jobs=2).fit(items)
    truth = np.arange(2000) % 6
    assert adjusted_rand_score(truth, c.labels_) > 0.9
    # exactly what a precomputed matrix of the same distances gives
    sub = items[:300]
    D = np.array([[jaccard(a, b) for b in sub] for a in sub], dtype=np.float32)
    cb = chutoro.FISHDBC(metric=jaccard, candidates="exact").fit(sub)
    pre = chutoro.FISHDBC(metric="precomputed", candidates="exact").fit(D)
    assert np.array_equal(cb.labels_, pre.labels_)
    assert np.array_equal(cb.minimum_spanning_tree_.to_numpy(), pre.minimum_spanning_tree_.to_numpy())
    assert c.minimum_spanning_tree_.to_numpy().shape == (1999, 3)


@pytest.mark.parametrize("candidates", ["hnsw", "exact"])
def test_callable_metric_errors(candidates):
    items = list(range(50))

    def raises(a, b):
        if a + b == 30:
            raise RuntimeError("user metric failed on purpose")
        return abs(a - b)

    with pytest.raises(RuntimeError, match="user metric failed on purpose"):
        chutoro.FISHDBC(metric=raises, candidates=candidates).fit(items)
    with pytest.raises(TypeError, match=r"metric\(X\[\d+\], X\[\d+\]\) returned str, not a number"):
        chutoro.FISHDBC(metric=lambda a, b: "far", candidates=candidates).fit(items)
    with pytest.raises(ValueError, match=r"metric\(X\[\d+\], X\[\d+\]\) = -1.0+ is not a non-negative number"):
        chutoro.FISHDBC(metric=lambda a, b: -1.0, candidates=candidates).fit(items)
    with pytest.raises(ValueError, match=r"= nan is not a non-negative number"):
        chutoro.FISHDBC(metric=lambda a, b: float("nan"), candidates=candidates).fit(items)
    # the estimator and the source stay usable after a failure
    est = chutoro.FISHDBC(metric=lambda a, b: abs(a - b), candidates=candidates)
    assert est.fit(items).labels_.shape == (50,)


def test_callable_metric_rejects_non_sequences():
    with pytest.raises(TypeError, match="X must be a sequence of items for a callable metric"):
        chutoro.FISHDBC(metric=lambda a, b: 0.0).fit(5)
    with pytest.raises(ValueError, match="X is empty"):
        chutoro.FISHDBC(metric=lambda a, b: 0.0).fit([])


def test_error_codes_map_to_python_exceptions():
    with pytest.raises(ValueError, match="unknown dense metric"):
        _core.DenseSource(np.zeros((3, 2), dtype=np.float32), "hamming")
    with pytest.raises(ValueError, match="no items"):
        _core.StringSource([])
    with pytest.raises(TypeError):  # a float64 array is not converted silently
        _core.DenseSource(np.zeros((3, 2)), "euclidean")


def test_too_few_then_partial_fit_and_recluster():
    rng = np.random.default_rng(1)
    a = np.vstack([rng.normal(0, 0.2, (2, 2)), rng.normal(5, 0.2, (2, 2))])
    est = chutoro.FISHDBC(min_cluster_size=5, min_samples=2, candidates="exact").fit(a)
    assert (est.labels_ == -1).all()
    est.recluster(min_cluster_size=2)  # now clusters can form
    assert est.labels_.max() >= 0
    est.recluster(min_cluster_size=5)
    assert (est.labels_ == -1).all()
    more = np.vstack([rng.normal(0, 0.2, (10, 2)), rng.normal(5, 0.2, (10, 2))])
    est.partial_fit(more)  # 24 items: min_cluster_size 5 is reachable
    assert len(est.labels_) == 24 and est.labels_.max() == 1
