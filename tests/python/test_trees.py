"""The tree objects: to_numpy / to_pandas layouts as hdbscan's, plots, selected
clusters, and single-linkage flat cuts."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

import chutoro


@pytest.fixture(scope="module")
def fitted():
    X, _ = make_blobs(n_samples=400, centers=[[0, 0], [6, 6], [0, 8]], cluster_std=[0.5, 1.0, 0.7],
                      random_state=0)
    X = np.vstack([X, np.repeat(X[:1], 20, axis=0)])  # exact duplicates: infinite lambdas
    return X, chutoro.FISHDBC(min_cluster_size=15).fit(X)


def test_to_numpy_and_to_pandas_match_hdbscans_layouts(fitted):
    import hdbscan

    X, c = fitted
    h = hdbscan.HDBSCAN(min_cluster_size=15, gen_min_span_tree=True).fit(X)
    for name in ("condensed_tree_", "single_linkage_tree_", "minimum_spanning_tree_"):
        ours, theirs = getattr(c, name), getattr(h, name)
        a, b = ours.to_numpy(), theirs.to_numpy()
        assert a.dtype == b.dtype and a.shape[1:] == b.shape[1:], name
        assert a is not ours.to_numpy(), "to_numpy returns a copy"
        da, db = ours.to_pandas(), theirs.to_pandas()
        assert list(da.columns) == list(db.columns), name
        assert len(da) == len(a)
    assert np.isinf(c.condensed_tree_.to_numpy()["lambda_val"]).any()


def test_selected_clusters_hold_their_labels(fitted):
    X, c = fitted
    tree = c.condensed_tree_.to_numpy()
    selected = c.condensed_tree_.selected_clusters()
    assert len(selected) == c.labels_.max() + 1 == len(c.cluster_persistence_)
    assert np.all(np.diff(selected) > 0), "labels follow ascending condensed-tree ids"
    parent = dict(zip(tree["child"].tolist(), tree["parent"].tolist()))
    for label, cluster in enumerate(selected.tolist()):
        for item in np.flatnonzero(c.labels_ == label)[:50]:
            node = int(item)
            while node in parent and node != cluster:
                node = parent[node]
            assert node == cluster


def test_single_linkage_get_clusters_matches_hdbscan(fitted):
    from hdbscan.plots import SingleLinkageTree as HdbscanSLT

    _, c = fitted
    linkage = c.single_linkage_tree_.to_numpy()
    for cut in (0.3, 0.8, 2.0):
        ours = c.single_linkage_tree_.get_clusters(cut, min_cluster_size=10)
        theirs = HdbscanSLT(linkage).get_clusters(cut, min_cluster_size=10)
        assert adjusted_rand_score(ours, theirs) == 1.0
        assert np.array_equal(ours < 0, theirs < 0)


def test_plots_draw(fitted, tmp_path):
    X, c = fitted
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    c.condensed_tree_.plot(axis=axes[0], select_clusters=True, label_clusters=True)
    c.single_linkage_tree_.plot(axis=axes[1], truncate_mode="lastp", p=30)
    c.minimum_spanning_tree_.plot(axis=axes[2])
    fig.savefig(tmp_path / "trees.png")
    assert (tmp_path / "trees.png").stat().st_size > 10_000
    assert len(axes[0].patches) > len(c.cluster_persistence_)
    plt.close(fig)
    # default axis, log sizes, projected high-dimensional data
    Y = np.hstack([X, X ** 2])
    d = chutoro.FISHDBC(min_cluster_size=15).fit(Y)
    assert d.condensed_tree_.plot(log_size=True, colorbar=False) is not None
    assert d.minimum_spanning_tree_.plot(colorbar=False, vary_line_width=False) is not None
    plt.close("all")


def test_mst_plot_needs_vectors():
    c = chutoro.FISHDBC(metric="levenshtein").fit(["ab", "abc", "abd", "xyz", "xy", "xz", "abcd"] * 3)
    assert c.minimum_spanning_tree_.to_numpy().shape == (20, 3)
    with pytest.raises(ValueError, match="needs vector data"):
        c.minimum_spanning_tree_.plot()


def test_pickle_roundtrip(fitted):
    import pickle

    _, c = fitted
    d = pickle.loads(pickle.dumps(c))
    assert np.array_equal(d.labels_, c.labels_)
    assert np.array_equal(d.condensed_tree_.to_numpy(), c.condensed_tree_.to_numpy())
