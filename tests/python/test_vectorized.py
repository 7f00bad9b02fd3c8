"""chutoro.vectorized: a Python metric over one item and an array of items.

The graph build asks for one query against many items per call
(data_source::distance_batch); a vectorised metric receives those batches, so
Python is called once per batch. It must give the per-pair callable's result,
and bad returns must raise errors that name the metric.
"""

import pickle

import numpy as np
import pytest

import chutoro


def per_pair(a, b):
    return float(np.sqrt(((a - b) ** 2).sum()))


def euclid_rows(x, Y):
    return np.sqrt(((Y - x) ** 2).sum(axis=1))


@pytest.fixture(scope="module")
def clusterable(shared_data):
    return np.load(shared_data / "clusterable_data.npy")[:700]


@pytest.mark.parametrize("candidates", ["hnsw", "exact"])
def test_vectorized_equals_per_pair_callable(clusterable, candidates):
    X = clusterable
    a = chutoro.FISHDBC(min_cluster_size=10, metric=per_pair, candidates=candidates).fit(list(X))
    calls = []

    def counted(x, Y):
        calls.append(len(Y))
        return euclid_rows(x, Y)

    v = chutoro.FISHDBC(min_cluster_size=10, metric=chutoro.vectorized(counted), candidates=candidates).fit(X)
    assert np.array_equal(a.labels_, v.labels_)
    assert np.array_equal(a.minimum_spanning_tree_.to_numpy(), v.minimum_spanning_tree_.to_numpy())
    assert a.labels_.max() >= 1  # found clusters
    # Batches: the searches' and batch-mates' distances come many rows per call (the
    # neighbour-selection heuristic's comparisons stay one pair per call).
    multi = [c for c in calls if c > 1]
    print(f"{candidates}: {len(calls)} calls, {sum(calls)} rows, {len(multi)} batches of {sum(multi)} rows")
    assert sum(calls) >= 0.5 * v.fit_stats_["distance_computations"]
    assert sum(multi) > 3 * len(multi)
    assert sum(multi) > 0.2 * sum(calls)


def test_vectorized_wrapper_per_pair_form_and_pickle(clusterable):
    f = chutoro.vectorized(euclid_rows)
    assert f(clusterable[0], clusterable[1]) == pytest.approx(per_pair(clusterable[0], clusterable[1]))
    assert "euclid_rows" in repr(f)
    est = chutoro.FISHDBC(min_cluster_size=10, metric=f, candidates="hnsw").fit(clusterable)
    back = pickle.loads(pickle.dumps(est))
    assert np.array_equal(back.labels_, est.labels_)
    with pytest.raises(TypeError, match="vectorized: func must be callable"):
        chutoro.vectorized(3)


@pytest.mark.parametrize("candidates", ["hnsw", "exact"])
def test_vectorized_bad_returns_name_the_metric(clusterable, candidates):
    X = clusterable[:60]

    def wrong_shape(x, Y):
        return np.zeros((len(Y), 2))

    def gives_nan(x, Y):
        d = euclid_rows(x, Y)
        d[-1] = np.nan
        return d

    def negative(x, Y):
        return -euclid_rows(x, Y) - 1

    def raises(x, Y):
        raise RuntimeError("user metric failed on purpose")

    fit = lambda f: chutoro.FISHDBC(metric=chutoro.vectorized(f), candidates=candidates).fit(X)  # noqa: E731
    with pytest.raises(ValueError, match=r"vectorized metric .*wrong_shape returned shape \(\d+, 2\) for \d+ rows"):
        fit(wrong_shape)
    with pytest.raises(ValueError, match=r"vectorized metric .*gives_nan: distance nan .* not a non-negative number"):
        fit(gives_nan)
    with pytest.raises(ValueError, match=r"vectorized metric .*negative: distance -\d.* not a non-negative number"):
        fit(negative)
    with pytest.raises(RuntimeError, match="user metric failed on purpose"):
        fit(raises)
    with pytest.raises(TypeError, match=r"X for vectorized metric .*euclid_rows must stack into a numeric array"):
        chutoro.FISHDBC(metric=chutoro.vectorized(euclid_rows)).fit(["ab", "cd", "ef"])
    # the estimator stays usable after a failure
    assert chutoro.FISHDBC(metric=chutoro.vectorized(euclid_rows), candidates=candidates).fit(X).labels_.shape == (60,)
