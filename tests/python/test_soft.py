"""hdbscan's everyday extras on chutoro.FISHDBC, each compared with hdbscan's
(or scikit-learn's) own output on the shared data in exact mode:

- selection options of hdbscan 0.8.40 (max_cluster_size,
  cluster_selection_persistence, cluster_selection_epsilon_max) and the
  DBSCAN* cut (dbscan_clustering), re-extracted by recluster;
- soft clustering (membership_vector, all_points_membership_vectors,
  approximate_predict_scores) within 1e-6 of hdbscan.prediction;
- exemplars_, relative_validity_, validity_index (DBCV), centroids_/medoids_;
- to_networkx and get_plot_data on the tree objects.

Exactness is asserted on tie-free (jittered) data with chutoro's min_samples
k = hdbscan's k - 1 (docs/python.md), where both build the same tree."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import oracle
import pytest
from sklearn.metrics import adjusted_rand_score

import chutoro

K = 2  # chutoro min_samples; hdbscan's 1


@pytest.fixture(scope="module")
def data(shared_data):
    X = oracle.jittered(oracle.load("clusterable"))
    perm = np.random.default_rng(0).permutation(len(X))
    return X[np.sort(perm[200:])], X[np.sort(perm[:200])]


@pytest.fixture(scope="module")
def pair(data):
    import hdbscan

    train, _ = data
    ours = chutoro.FISHDBC(min_cluster_size=15, min_samples=K, candidates="exact").fit(train)
    ref = hdbscan.HDBSCAN(min_cluster_size=15, min_samples=K - 1, approx_min_span_tree=False,
                          gen_min_span_tree=True, prediction_data=True).fit(train)
    assert adjusted_rand_score(ours.labels_, ref.labels_) == 1.0
    np.testing.assert_allclose(np.sort(ours.condensed_tree_.to_numpy()["lambda_val"]),
                               np.sort(ref.condensed_tree_.to_numpy()["lambda_val"]), rtol=1e-6)
    return ours, ref


def _same_partition(a: np.ndarray, b: np.ndarray) -> None:
    assert np.array_equal(a < 0, b < 0)
    assert adjusted_rand_score(a, b) == 1.0


def _column_map(ours: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Our label j -> hdbscan's label (the training labels may be numbered differently)."""
    return np.array([int(np.bincount(ref[ours == j]).argmax()) for j in range(ours.max() + 1)])


# ------------------------------------------------------- selection options
@pytest.mark.parametrize(
    "option",
    [
        {"max_cluster_size": 300},
        {"max_cluster_size": 40},
        {"cluster_selection_persistence": 0.5},
        {"cluster_selection_persistence": 5.0},
        {"cluster_selection_epsilon_max": 0.05},
        {"cluster_selection_epsilon_max": 0.05, "allow_single_cluster": True},
        {"max_cluster_size": 100, "cluster_selection_epsilon": 0.02, "cluster_selection_epsilon_max": 0.08},
        {"cluster_selection_persistence": 1.0, "cluster_selection_method": "leaf"},
    ],
)
def test_selection_options_match_hdbscan(data, option):
    import hdbscan

    train, _ = data
    ours = chutoro.FISHDBC(min_cluster_size=10, min_samples=K, candidates="exact", **option).fit(train)
    ref = hdbscan.HDBSCAN(min_cluster_size=10, min_samples=K - 1, approx_min_span_tree=False,
                          **{k: float(v) if isinstance(v, float) else v for k, v in option.items()}).fit(train)
    _same_partition(ours.labels_, ref.labels_)
    order = np.argsort(_column_map(ours.labels_, ref.labels_)) if ours.labels_.max() >= 0 else []
    np.testing.assert_allclose(ours.probabilities_, ref.probabilities_, atol=1e-6)
    np.testing.assert_allclose(ours.cluster_persistence_[order], ref.cluster_persistence_, rtol=1e-5)
    if "cluster_selection_persistence" in option:  # the simplified tree is the condensed tree
        # (the two children of a split may come in the other order: compare the rows as sets)
        a, b = ours.condensed_tree_.to_numpy(), ref.condensed_tree_.to_numpy()
        assert len(a) == len(b)
        a, b = np.sort(a, order=["child_size", "lambda_val"]), np.sort(b, order=["child_size", "lambda_val"])
        np.testing.assert_array_equal(a["child_size"], b["child_size"])
        np.testing.assert_allclose(a["lambda_val"], b["lambda_val"], rtol=1e-6)


@pytest.mark.parametrize("persistence", [0.5, 5.0, 20.0])
def test_simplified_tree_is_hdbscans_simplify_hierarchy(data, persistence):
    """hdbscan's simplify_hierarchy run on chutoro's own condensed tree gives
    chutoro's simplified tree row for row (float32 lambdas included)."""
    from hdbscan._hdbscan_tree import simplify_hierarchy

    train, _ = data
    base = chutoro.FISHDBC(min_cluster_size=10, min_samples=K, candidates="exact").fit(train)
    ours = chutoro.FISHDBC(min_cluster_size=10, min_samples=K, candidates="exact",
                           cluster_selection_persistence=persistence).fit(train)
    want = simplify_hierarchy(base.condensed_tree_.to_numpy(), persistence)
    got = ours.condensed_tree_.to_numpy()
    if persistence >= 5.0:  # these merge part of the tree
        assert len(got) < len(base.condensed_tree_.to_numpy())
    for field in ("parent", "child", "lambda_val", "child_size"):
        np.testing.assert_array_equal(got[field], want[field], err_msg=field)


def test_selection_options_recluster_and_survive_save(data, tmp_path):
    train, _ = data
    est = chutoro.FISHDBC(min_cluster_size=10, min_samples=K, candidates="exact").fit(train)
    direct = chutoro.FISHDBC(min_cluster_size=10, min_samples=K, candidates="exact", max_cluster_size=40).fit(train)
    before = est.labels_.copy()
    est.recluster(max_cluster_size=40)
    np.testing.assert_array_equal(est.labels_, direct.labels_)
    assert not np.array_equal(before, est.labels_)
    est.recluster(cluster_selection_persistence=2.0, cluster_selection_epsilon_max=0.1)
    est.save(tmp_path / "m.chutoro")
    back = chutoro.load(tmp_path / "m.chutoro")
    assert (back.max_cluster_size, back.cluster_selection_persistence, back.cluster_selection_epsilon_max) == (
        40, 2.0, 0.1)
    np.testing.assert_array_equal(back.labels_, est.labels_)
    with pytest.raises(ValueError, match="cluster_selection_epsilon_max"):
        est.recluster(cluster_selection_epsilon=0.2, cluster_selection_epsilon_max=0.1)
    with pytest.raises(ValueError, match="cluster_selection_persistence"):
        est.recluster(cluster_selection_persistence=-1.0)
    with pytest.raises(TypeError, match="max_cluster_size"):
        est.recluster(max_cluster_size=2.5)
    assert est.max_cluster_size == 40  # unchanged by the failed calls


@pytest.mark.parametrize("cut", [0.01, 0.03, 0.1])
def test_dbscan_clustering_matches_hdbscan(pair, cut):
    ours, ref = pair
    _same_partition(ours.dbscan_clustering(cut, min_cluster_size=5), ref.dbscan_clustering(cut, min_cluster_size=5))


@pytest.mark.parametrize("method,n_clusters", [("eom", 3), ("eom", 6), ("leaf", 4), ("leaf", 12)])
def test_hdbscan_flat_matches_hdbscan(data, method, n_clusters):
    from hdbscan.flat import HDBSCAN_flat, approximate_predict_flat

    train, held_out = data
    ours = chutoro.HDBSCAN_flat(train, n_clusters=n_clusters, min_cluster_size=15, min_samples=K,
                                candidates="exact", cluster_selection_method=method)
    ref = HDBSCAN_flat(train, n_clusters=n_clusters, min_cluster_size=15, min_samples=K - 1,
                       approx_min_span_tree=False, cluster_selection_method=method)
    assert ours.labels_.max() + 1 == ref.labels_.max() + 1 == n_clusters
    _same_partition(ours.labels_, ref.labels_)
    assert ours.prediction_data_ is not None
    # approximate_predict_flat at another cluster count: as re-selecting, predicting,
    # and leaving the fitted clustering as it was.
    before = ours.labels_.copy()
    labels, probs = chutoro.approximate_predict_flat(ours, held_out, n_clusters=n_clusters - 1)
    np.testing.assert_array_equal(ours.labels_, before)
    again = chutoro.HDBSCAN_flat(train, n_clusters=n_clusters - 1, clusterer=ours)
    np.testing.assert_array_equal(labels, again.approximate_predict(held_out)[0])
    np.testing.assert_array_equal(probs, again.approximate_predict(held_out)[1])
    ref_labels, _ = approximate_predict_flat(ref, held_out, n_clusters=n_clusters - 1)
    assert adjusted_rand_score(labels, ref_labels) > 0.9  # hdbscan predicts with other core distances
    np.testing.assert_array_equal(chutoro.membership_vector_flat(ours, held_out, n_clusters=n_clusters - 1),
                                  again.membership_vector(held_out))
    np.testing.assert_array_equal(chutoro.all_points_membership_vectors_flat(ours, n_clusters=n_clusters - 1),
                                  again.all_points_membership_vectors())
    np.testing.assert_array_equal(ours.labels_, before)


# ---------------------------------------------------------- soft clustering
def test_all_points_membership_vectors_match_hdbscan(pair, data):
    import hdbscan.prediction

    ours, fitted = pair
    got = chutoro.all_points_membership_vectors(ours)
    # hdbscan's code on chutoro's tree: the same cluster ids, so the same
    # first-of-equal-heights choices (hdbscan breaks ties by column order).
    want = hdbscan.prediction.all_points_membership_vectors(_hdbscan_on_our_tree(ours, data[0]))
    assert got.shape == want.shape == (len(ours.labels_), ours.labels_.max() + 1)
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_array_equal(ours.all_points_membership_vectors(), got)
    # hdbscan's own fit (the same tree, its children in another order): equal
    # but where equal merge heights are broken by the column order.
    cols = _column_map(ours.labels_, fitted.labels_)
    theirs = hdbscan.prediction.all_points_membership_vectors(fitted)[:, cols]
    close = np.all(np.abs(got - theirs) < 1e-6, axis=1)
    print(f"MEASURED all_points_membership_vectors rows within 1e-6 of hdbscan's own fit: {close.mean():.4f}")
    assert close.mean() > 0.95


def _hdbscan_on_our_tree(ours, train):
    """hdbscan's prediction code over chutoro's tree, with the fitted core
    distances (hdbscan's PredictionData recomputes them with one neighbour fewer
    than its clustering used, which chutoro does not copy)."""
    import hdbscan.plots
    import hdbscan.prediction

    tree = hdbscan.plots.CondensedTree(ours.condensed_tree_.to_numpy(), ours.labels_)
    pd = hdbscan.prediction.PredictionData(train, tree, min_samples=K - 1)
    pd.core_distances = ours.core_distances_.astype(np.float64)
    return SimpleNamespace(prediction_data_=pd, condensed_tree_=tree, min_samples=K - 1, min_cluster_size=15)


def test_membership_vector_and_scores_match_hdbscan(pair, data):
    import hdbscan.prediction

    ours, _ = pair
    train, held_out = data
    ref = _hdbscan_on_our_tree(ours, train)
    got = chutoro.membership_vector(ours, held_out)
    want = hdbscan.prediction.membership_vector(ref, held_out)
    assert got.shape == want.shape == (len(held_out), ours.labels_.max() + 1)
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_array_equal(ours.membership_vector(held_out), got)
    scores = chutoro.approximate_predict_scores(ours, held_out)
    np.testing.assert_allclose(scores, hdbscan.prediction.approximate_predict_scores(ref, held_out), atol=1e-6)
    # Duplicates of training items take their neighbour's own lambda; which
    # neighbour is nearest under mutual reachability is a tie there, broken by
    # float32 (chutoro) or float64 (hdbscan's KD-tree) rounding.
    dup = chutoro.approximate_predict_scores(ours, train[:200])
    same = np.abs(dup - hdbscan.prediction.approximate_predict_scores(ref, train[:200])) < 1e-6
    assert same.mean() > 0.9


def test_soft_clustering_on_hnsw_models_and_strings():
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(c, 0.3, (150, 4)) for c in (0, 4, 8)])
    est = chutoro.FISHDBC(min_cluster_size=20).fit(X)
    m = est.all_points_membership_vectors()
    k = est.labels_.max() + 1
    assert m.shape == (len(X), k) and np.all(m >= 0) and np.all(m.sum(axis=1) <= 1 + 1e-9)
    assert np.mean(m.argmax(axis=1)[est.labels_ >= 0] == est.labels_[est.labels_ >= 0]) > 0.95
    v = est.membership_vector(X[:30] + 0.01)
    assert v.shape == (30, k) and np.all(np.isfinite(v))
    words = ["alpha", "alphb", "alphc", "alpxa", "beta", "betb", "betc", "bxta"] * 5
    s = chutoro.FISHDBC(metric="levenshtein", min_cluster_size=4, min_samples=2).fit(words)
    assert s.all_points_membership_vectors().shape[0] == len(words)
    assert s.membership_vector(["alphz"]).shape == (1, s.labels_.max() + 1)
    pre = chutoro.FISHDBC(metric="precomputed", min_cluster_size=20).fit(
        np.linalg.norm(X[:, None] - X[None], axis=-1))
    with pytest.raises(NotImplementedError):
        pre.membership_vector(X[:3])
    assert pre.all_points_membership_vectors().shape == (len(X), pre.labels_.max() + 1)
    with pytest.raises(TypeError, match="chutoro.FISHDBC"):
        chutoro.membership_vector(object(), X)


# ------------------------------------------------------------ exemplars, DBCV, centres
def test_exemplars_match_hdbscan(pair):
    ours, ref = pair
    cols = _column_map(ours.labels_, ref.labels_)
    assert len(ours.exemplars_) == len(ref.exemplars_)
    for j, rows in enumerate(ours.exemplars_):
        a = {tuple(r) for r in np.asarray(rows)}
        b = {tuple(r) for r in ref.exemplars_[cols[j]]}
        assert a == b, f"cluster {j}"
    assert ours.prediction_data_.exemplar_indices[0].dtype == np.int64


def test_prediction_data_attribute():
    X = np.random.default_rng(2).normal(size=(200, 2))
    est = chutoro.FISHDBC(min_cluster_size=10).fit(X)
    with pytest.raises(AttributeError, match="prediction data"):
        est.prediction_data_
    est.generate_prediction_data()
    assert isinstance(est.prediction_data_, chutoro.PredictionData)
    assert chutoro.FISHDBC(min_cluster_size=10, prediction_data=True).fit(X).prediction_data_ is not None


def test_relative_validity_matches_hdbscan(pair):
    ours, ref = pair
    assert abs(ours.relative_validity_ - ref.relative_validity_) < 1e-6


@pytest.mark.parametrize("mst_raw_dist", [False, True])
def test_validity_index_matches_hdbscan(pair, data, mst_raw_dist):
    from hdbscan.validity import validity_index

    ours, _ = pair
    train, _ = data
    sub = np.flatnonzero(np.isin(ours.labels_, [-1, 0, 1, 2]))[::2]  # keeps the O(n^2) reference quick
    X, labels = train[sub], ours.labels_[sub]
    got, per = chutoro.validity_index(X, labels, per_cluster_scores=True, mst_raw_dist=mst_raw_dist)
    want, want_per = validity_index(X, labels, per_cluster_scores=True, mst_raw_dist=mst_raw_dist)
    assert abs(got - want) < 1e-6
    np.testing.assert_allclose(per, want_per, atol=1e-6)
    D = np.linalg.norm(X[:, None] - X[None], axis=-1)
    assert abs(chutoro.validity_index(D, labels, metric="precomputed", d=2) - validity_index(
        D, labels, metric="precomputed", d=2)) < 1e-6
    with pytest.raises(ValueError, match="needs d"):
        chutoro.validity_index(D, labels, metric="precomputed")


def test_centres_match_scikit_learn(data):
    from sklearn.cluster import HDBSCAN

    train, _ = data
    ours = chutoro.FISHDBC(min_cluster_size=15, min_samples=K, candidates="exact", store_centers="both").fit(train)
    ref = HDBSCAN(min_cluster_size=15, min_samples=K, store_centers="both").fit(train)
    _same_partition(ours.labels_, ref.labels_)
    order = np.argsort(_column_map(ours.labels_, ref.labels_))
    np.testing.assert_allclose(ours.centroids_[order], ref.centroids_, atol=1e-9)
    np.testing.assert_array_equal(ours.medoids_[order], ref.medoids_)
    np.testing.assert_array_equal(ours.weighted_cluster_centroid(0), ours.centroids_[0])
    np.testing.assert_array_equal(ours.weighted_cluster_medoid(1), ours.medoids_[1])
    with pytest.raises(ValueError, match="noise"):
        ours.weighted_cluster_centroid(-1)
    with pytest.raises(ValueError, match="store_centers"):
        chutoro.FISHDBC(store_centers="middle").fit(train)
    with pytest.raises(ValueError, match="needs vector data"):
        chutoro.FISHDBC(metric="precomputed", store_centers="medoid").fit(np.zeros((20, 20)))
    assert not hasattr(chutoro.FISHDBC(min_cluster_size=15).fit(train), "centroids_")
    import pickle

    back = pickle.loads(pickle.dumps(ours))
    np.testing.assert_array_equal(back.centroids_, ours.centroids_)
    np.testing.assert_array_equal(back.medoids_, ours.medoids_)


# ------------------------------------------------------------------- trees
def test_to_networkx(pair):
    nx = pytest.importorskip("networkx")
    ours, ref = pair
    g = ours.condensed_tree_.to_networkx()
    h = ref.condensed_tree_.to_networkx()
    assert isinstance(g, nx.DiGraph) and g.number_of_edges() == h.number_of_edges()
    assert sorted(d.get("size", 0) for _, d in g.nodes(data=True)) == sorted(
        d.get("size", 0) for _, d in h.nodes(data=True))
    s = ours.single_linkage_tree_.to_networkx()
    assert s.number_of_edges() == 2 * (len(ours.labels_) - 1)
    m = ours.minimum_spanning_tree_.to_networkx()
    assert nx.is_tree(m) and len(m.nodes[0]["data"]) == 2


def test_to_networkx_without_networkx(pair, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_networkx(name, *args, **kwargs):
        if name == "networkx" or name.startswith("networkx."):
            raise ImportError("no networkx")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_networkx)
    monkeypatch.delitem(__import__("sys").modules, "networkx", raising=False)
    with pytest.raises(ImportError, match="networkx"):
        pair[0].condensed_tree_.to_networkx()


@pytest.mark.parametrize("log_size", [False, True])
def test_get_plot_data_matches_hdbscan(pair, log_size):
    import hdbscan.plots

    ours, _ = pair
    got = ours.condensed_tree_.get_plot_data(log_size=log_size)
    want = hdbscan.plots.CondensedTree(ours.condensed_tree_.to_numpy(), ours.labels_).get_plot_data(
        log_size=log_size)
    assert set(got) == set(want)
    for key in ("bar_centers", "bar_tops", "bar_bottoms", "bar_widths", "line_xs", "line_ys"):
        np.testing.assert_allclose(np.asarray(got[key], dtype=float), np.asarray(want[key], dtype=float),
                                   err_msg=key)
    assert got["cluster_bounds"].keys() == want["cluster_bounds"].keys()
    for c in want["cluster_bounds"]:
        np.testing.assert_allclose(got["cluster_bounds"][c], want["cluster_bounds"][c])
