"""The fitted model behind chutoro.FISHDBC: partial_fit (FISHDBC's incremental
update), recluster (new selection parameters without rebuilding),
approximate_predict (hdbscan's semantics, compared with hdbscan itself), model
files (save / chutoro.load) and pickling, and their errors.

Measured values are printed as lines starting with "MEASURED" (pytest -s shows them)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import oracle
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score

import chutoro
from chutoro import _core

FROM_MODEL = ("labels_", "probabilities_", "outlier_scores_", "cluster_persistence_", "core_distances_")


def _report(what: str, value: float) -> None:
    print(f"MEASURED {what}: {value:.4f}")


def assert_same_fit(a: chutoro.FISHDBC, b: chutoro.FISHDBC) -> None:
    """Identical fitted attributes (NaN outlier scores compare equal)."""
    for name in FROM_MODEL:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert getattr(a, name).dtype == getattr(b, name).dtype, name
    for name in ("condensed_tree_", "single_linkage_tree_", "minimum_spanning_tree_"):
        np.testing.assert_array_equal(getattr(a, name).to_numpy(), getattr(b, name).to_numpy(), err_msg=name)


@pytest.fixture(scope="module")
def clusterable(shared_data):
    return oracle.load("clusterable")


@pytest.fixture(scope="module")
def digits(shared_data):
    return oracle.load("digits")


@pytest.fixture(scope="module")
def fitted(clusterable):
    return chutoro.FISHDBC(min_cluster_size=15).fit(clusterable)


def _split(X: np.ndarray, fraction: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train, held out): a seeded random `fraction` of the rows held out."""
    perm = np.random.default_rng(seed).permutation(len(X))
    cut = int(round(len(X) * fraction))
    return X[np.sort(perm[cut:])], X[np.sort(perm[:cut])]


def _words(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    stems = ["cluster", "density", "graph", "spanning", "hierarchy", "noise", "sample", "metric"]
    out = []
    for _ in range(n):
        w = list(stems[rng.integers(len(stems))])
        for _ in range(rng.integers(0, 3)):
            w[rng.integers(len(w))] = chr(ord("a") + rng.integers(26))
        out.append("".join(w))
    return out


def _token_lines(n: int, seed: int) -> list[str]:
    """Lines of 8 tokens drawn around 6 topics; later seeds see tokens in another order."""
    rng = np.random.default_rng(seed)
    topics = [[f"t{g}w{j}" for j in range(12)] for g in range(6)]
    lines = []
    for _ in range(n):
        g = int(rng.integers(6))
        words = list(rng.choice(topics[g], 6, replace=False)) + [f"rare{int(rng.integers(500))}" for _ in range(2)]
        rng.shuffle(words)
        lines.append(" ".join(words))
    return lines


# ------------------------------------------------------------ partial_fit
@pytest.mark.parametrize("name", ["digits", "letter"])
def test_partial_fit_in_ten_batches_matches_one_fit(shared_data, name):
    X = oracle.load(name)
    # FISHDBC's incremental update (auto would pick exact for these sizes).
    one = chutoro.FISHDBC(candidates="hnsw").fit(X)
    inc = chutoro.FISHDBC(candidates="hnsw")
    seen = 0
    for batch in np.array_split(X, 10):
        inc.partial_fit(batch)
        seen += len(batch)
        assert inc.labels_.shape == inc.probabilities_.shape == inc.core_distances_.shape == (seen,)
        assert inc.minimum_spanning_tree_.to_numpy().shape == (seen - 1, 3)
    assert inc.n_features_in_ == X.shape[1]
    ari = adjusted_rand_score(one.labels_, inc.labels_)
    _report(f"partial_fit 10 batches vs one fit, {name} ARI", ari)
    assert ari >= 0.98
    # FISHDBC's estimates never go below the exact core distances
    exact = chutoro.FISHDBC(candidates="exact").fit(X)
    assert np.all(inc.core_distances_ >= exact.core_distances_ * (1 - 1e-6))


def test_partial_fit_in_exact_mode_is_the_exact_fit(clusterable):
    X = clusterable
    one = chutoro.FISHDBC(candidates="exact", min_cluster_size=15).fit(X)
    inc = chutoro.FISHDBC(candidates="exact", min_cluster_size=15)
    for batch in np.array_split(X, 3):
        inc.partial_fit(batch)
    assert_same_fit(one, inc)


def test_auto_resolves_and_growing_models_turn_hnsw(digits):
    X = digits  # 1797 x 64: no kd-tree; all pairs up to 4096 items
    est = chutoro.FISHDBC(min_cluster_size=10).fit(X[:1000])
    assert est.candidates == "auto"
    assert est.candidates_ == "exact" == est.fit_stats_["candidates"]
    ref = chutoro.FISHDBC(min_cluster_size=10, candidates="exact").fit(X[:1000])
    np.testing.assert_array_equal(est.labels_, ref.labels_)
    back = pickle.loads(pickle.dumps(est))
    assert back.candidates_ == "exact" and back.candidates == "auto"
    big = np.concatenate([X, X + 0.5, X + 1.0])  # 5391 items, past all pairs' limit
    est.partial_fit(big[1000:])
    assert est.candidates_ == "hnsw" == est.fit_stats_["candidates"]
    est.partial_fit(X[:10])
    assert est.candidates_ == "hnsw"
    low = chutoro.FISHDBC(min_cluster_size=10).fit(X[:, :2] + np.arange(len(X))[:, None] * 1e-3)
    assert low.candidates_ == "exact"  # 2-D: the kd-tree


def test_partial_fit_first_call_is_fit(clusterable):
    a = chutoro.FISHDBC(min_cluster_size=15).partial_fit(clusterable)
    b = chutoro.FISHDBC(min_cluster_size=15).fit(clusterable)
    assert_same_fit(a, b)
    assert a.fit_stats_["n"] == len(clusterable)


def test_partial_fit_applies_new_selection_parameters(clusterable):
    X = clusterable
    a = chutoro.FISHDBC(min_cluster_size=15, min_samples=5).partial_fit(X[:1500])
    a.set_params(min_cluster_size=25, cluster_selection_method="leaf")
    a.partial_fit(X[1500:])
    b = chutoro.FISHDBC(min_cluster_size=15, min_samples=5).partial_fit(X[:1500]).partial_fit(X[1500:])
    b.recluster(min_cluster_size=25, cluster_selection_method="leaf")
    assert_same_fit(a, b)


def test_interrupted_partial_fit_leaves_the_model_unchanged(clusterable):
    X = clusterable
    est = chutoro.FISHDBC(min_cluster_size=15).fit(X[:1500])
    labels = est.labels_.copy()

    def stop(stage, done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # the path Ctrl-C takes
        est._model.add(_core.DenseSource(X[1500:].astype(np.float32), "euclidean"), progress=stop)
    assert len(est._model) == 1500
    np.testing.assert_array_equal(est.labels_, labels)
    est.partial_fit(X[1500:])
    assert_same_fit(est, chutoro.FISHDBC(min_cluster_size=15).fit(X[:1500]).partial_fit(X[1500:]))


def test_partial_fit_rejects_changed_build_parameters(clusterable):
    est = chutoro.FISHDBC(min_cluster_size=15).fit(clusterable[:1000])
    est.set_params(min_samples=7)
    with pytest.raises(ValueError, match=r"min_samples=7 \(fitted with 15\).*call fit to rebuild"):
        est.partial_fit(clusterable[1000:])
    est.set_params(min_samples=None, m=8)
    with pytest.raises(ValueError, match=r"m=8 \(fitted with 16\)"):
        est.partial_fit(clusterable[1000:])
    est.set_params(m=16, metric="manhattan")
    with pytest.raises(ValueError, match=r"metric='manhattan' \(fitted with 'euclidean'\)"):
        est.partial_fit(clusterable[1000:])
    assert est.labels_.shape == (1000,)  # unchanged


def test_partial_fit_strings(shared_data):
    words = _words(1200, 0)
    one = chutoro.FISHDBC(metric="levenshtein", min_cluster_size=10, candidates="exact").fit(words)
    inc = chutoro.FISHDBC(metric="levenshtein", min_cluster_size=10, candidates="exact")
    for part in (words[:500], words[500:900], words[900:]):
        inc.partial_fit(part)
    assert_same_fit(one, inc)
    hnsw = chutoro.FISHDBC(metric="levenshtein", min_cluster_size=10, candidates="hnsw")
    for part in (words[:500], words[500:900], words[900:]):
        hnsw.partial_fit(part)
    assert adjusted_rand_score(one.labels_, hnsw.labels_) > 0.9


def test_partial_fit_token_sets_share_one_vocabulary():
    # The second batch meets its tokens in another order: without one shared
    # vocabulary its token ids would mean other tokens.
    first, second = _token_lines(600, 1), _token_lines(400, 2)
    one = chutoro.FISHDBC(metric="jaccard", min_cluster_size=10, candidates="exact").fit(first + second)
    inc = chutoro.FISHDBC(metric="jaccard", min_cluster_size=10, candidates="exact")
    inc.partial_fit(first).partial_fit(second)
    assert_same_fit(one, inc)
    assert one.labels_.max() >= 5
    # prediction: unknown tokens count as elements no model item holds
    labels, _ = inc.approximate_predict(_token_lines(50, 3) + ["zzz unknown words only"])
    assert labels[-1] == -1
    assert np.mean(labels[:-1] >= 0) > 0.8


# ------------------------------------------------------------- recluster
def test_recluster_equals_a_fit_with_those_selection_parameters(clusterable):
    X = clusterable
    est = chutoro.FISHDBC(min_cluster_size=5, min_samples=5).fit(X)
    stats = dict(est.fit_stats_)
    for sel in (
        {"min_cluster_size": 15},
        {"cluster_selection_method": "leaf"},
        {"cluster_selection_epsilon": 0.04, "allow_single_cluster": True},
    ):
        assert est.recluster(**sel) is est
        assert est.get_params()[next(iter(sel))] == next(iter(sel.values()))
        ref = chutoro.FISHDBC(**{**est.get_params()}).fit(X)
        assert_same_fit(est, ref)
    assert est.fit_stats_ == stats  # still those of the fit
    # without arguments: the estimator's current selection parameters
    est.set_params(min_cluster_size=30, cluster_selection_method="eom", cluster_selection_epsilon=0.0,
                   allow_single_cluster=False)
    assert_same_fit(est.recluster(), chutoro.FISHDBC(min_cluster_size=30, min_samples=5).fit(X))


def test_recluster_errors_leave_the_estimator_unchanged(fitted):
    est = pickle.loads(pickle.dumps(fitted))
    labels = est.labels_.copy()
    with pytest.raises(ValueError, match=r"min_cluster_size must be >= 2"):
        est.recluster(min_cluster_size=1)
    with pytest.raises(ValueError, match=r"cluster_selection_method: unknown value 'max'"):
        est.recluster(cluster_selection_method="max")
    with pytest.raises(TypeError, match=r"recluster\(\) takes only selection parameters.*got m, min_samples"):
        est.recluster(m=8, min_samples=3)
    assert est.min_cluster_size == 15 and est.cluster_selection_method == "eom"
    np.testing.assert_array_equal(est.labels_, labels)
    with pytest.raises(NotFittedError):
        chutoro.FISHDBC().recluster(min_cluster_size=10)


# --------------------------------------------------- approximate_predict
def _agreement(ours_train, ref_train, ours_pred, ref_pred) -> float:
    """Fraction of predictions that agree once each of our clusters is named by
    the reference cluster holding most of its training items (noise is noise)."""
    mapping = {-1: -1}
    for c in np.unique(ours_train[ours_train >= 0]):
        values, counts = np.unique(ref_train[ours_train == c], return_counts=True)
        mapping[int(c)] = int(values[np.argmax(counts)])
    mapped = np.array([mapping.get(int(v), -2) for v in ours_pred])
    return float(np.mean(mapped == ref_pred))


@pytest.mark.parametrize(
    "name,min_cluster_size,min_samples",
    [("digits", 5, None), ("digits", 15, 5), ("clusterable", 15, None), ("clusterable", 15, 5)],
)
def test_approximate_predict_agrees_with_hdbscan(shared_data, name, min_cluster_size, min_samples):
    import hdbscan
    import hdbscan.prediction

    train, held_out = _split(oracle.as_seen(oracle.load(name)))
    k = min_samples if min_samples is not None else min_cluster_size
    ours = chutoro.FISHDBC(min_cluster_size=min_cluster_size, min_samples=min_samples, candidates="exact").fit(train)
    ref = hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=k - 1, approx_min_span_tree=False,
                          prediction_data=True).fit(train)
    train_ari = adjusted_rand_score(ours.labels_, ref.labels_)
    labels, probabilities = chutoro.approximate_predict(ours, held_out)
    ref_labels, ref_probabilities = hdbscan.prediction.approximate_predict(ref, held_out)
    assert labels.dtype == np.int32 and probabilities.dtype == np.float64
    assert labels.shape == probabilities.shape == (len(held_out),)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    assert np.all(probabilities[labels < 0] == 0)
    agree = _agreement(ours.labels_, ref.labels_, labels, ref_labels)
    tag = f"{name} mcs={min_cluster_size} min_samples={min_samples}"
    _report(f"approximate_predict label agreement with hdbscan, {tag} (training ARI {train_ari:.4f})", agree)
    same = labels >= 0
    if same.any():
        both = same & (ref_labels >= 0)
        _report(f"  mean |probability difference| where both assign a cluster, {tag}",
                float(np.mean(np.abs(probabilities[both] - ref_probabilities[both]))) if both.any() else 0.0)
    assert agree >= 0.95
    # the method is the function
    m_labels, m_probabilities = ours.approximate_predict(held_out)
    np.testing.assert_array_equal(m_labels, labels)
    np.testing.assert_array_equal(m_probabilities, probabilities)


@pytest.mark.parametrize("name", ["digits", "clusterable"])
@pytest.mark.parametrize("candidates", ["exact", "hnsw"])
def test_approximate_predict_is_hdbscans_on_the_same_tree(shared_data, name, candidates):
    """hdbscan's own prediction code run on chutoro's tree and core distances
    gives chutoro's labels and probabilities (tie-free jittered data; the
    differences in the test above are then the two trees' tie orders)."""
    from types import SimpleNamespace

    import hdbscan.plots
    import hdbscan.prediction

    train, held_out = _split(oracle.jittered(oracle.load(name)))
    k = 5
    ours = chutoro.FISHDBC(min_cluster_size=15, min_samples=k, candidates=candidates).fit(train)
    tree = hdbscan.plots.CondensedTree(ours.condensed_tree_.to_numpy(), ours.labels_)
    data = hdbscan.prediction.PredictionData(train, tree, min_samples=k - 1)
    # hdbscan's PredictionData recomputes core distances with one neighbour fewer
    # than its clustering used; chutoro predicts with the fitted ones.
    data.core_distances = ours.core_distances_.astype(np.float64)
    ref = SimpleNamespace(prediction_data_=data, condensed_tree_=tree, min_samples=k - 1, min_cluster_size=15)
    ref_labels, ref_probabilities = hdbscan.prediction.approximate_predict(ref, held_out)
    labels, probabilities = ours.approximate_predict(held_out)
    same = labels == ref_labels
    _report(f"approximate_predict == hdbscan's code on chutoro's tree, {name} {candidates}", float(np.mean(same)))
    if candidates == "exact":
        np.testing.assert_array_equal(labels, ref_labels)
        np.testing.assert_allclose(probabilities, ref_probabilities, atol=1e-5)
    else:  # approximate neighbours (HNSW search)
        assert np.mean(same) >= 0.98


@pytest.mark.parametrize("candidates", ["hnsw", "exact"])
def test_approximate_predict_on_the_training_points(clusterable, candidates):
    est = chutoro.FISHDBC(min_cluster_size=15, candidates=candidates).fit(clusterable)
    labels, probabilities = est.approximate_predict(clusterable)
    agree = float(np.mean(labels == est.labels_))
    _report(f"approximate_predict(training points) == labels_, clusterable {candidates}", agree)
    assert agree >= 0.9
    clustered = (labels >= 0) & (est.labels_ >= 0)
    assert np.corrcoef(probabilities[clustered], est.probabilities_[clustered])[0, 1] > 0.5


def test_approximate_predict_does_not_change_the_model(fitted, clusterable):
    before = fitted.labels_.copy()
    a = fitted.approximate_predict(clusterable[:100] + 0.01)
    b = fitted.approximate_predict(clusterable[:100] + 0.01)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(fitted.labels_, before)
    assert len(fitted._model) == len(clusterable)


def test_approximate_predict_strings():
    words = _words(1000, 0)
    est = chutoro.FISHDBC(metric="levenshtein", min_cluster_size=10).fit(words)
    labels, probabilities = est.approximate_predict(words[:200])
    assert np.mean(labels == est.labels_[:200]) > 0.9
    with pytest.raises(TypeError, match=r"X\[1\] is int, not str"):
        est.approximate_predict(["cluster", 3])


# ----------------------------------------------------- save, load, pickle
def test_save_load_round_trip(tmp_path, fitted, clusterable):
    path = tmp_path / "clusterable.chutoro"
    fitted.save(path)
    back = chutoro.load(path)
    assert isinstance(back, chutoro.FISHDBC)
    assert_same_fit(fitted, back)
    params = fitted.get_params()
    assert back.get_params() == params
    assert back.n_features_in_ == 2
    new = clusterable[:300] + 0.005
    for a, b in zip(fitted.approximate_predict(new), back.approximate_predict(new)):
        np.testing.assert_array_equal(a, b)
    back.minimum_spanning_tree_.plot()  # the vectors come from the model
    # a path as str, and saving over an existing file
    fitted.save(str(path))
    assert_same_fit(chutoro.load(str(path)), fitted)


@pytest.mark.parametrize("candidates", ["hnsw", "exact"])
def test_load_then_partial_fit(tmp_path, clusterable, candidates):
    X = clusterable
    a = chutoro.FISHDBC(min_cluster_size=15, candidates=candidates).fit(X[:1200])
    a.save(tmp_path / "half.chutoro")
    b = chutoro.load(tmp_path / "half.chutoro")
    a.partial_fit(X[1200:])
    b.partial_fit(X[1200:])
    assert b.labels_.shape == (len(X),)
    assert_same_fit(a, b)
    c = pickle.loads(pickle.dumps(chutoro.FISHDBC(min_cluster_size=15, candidates=candidates).fit(X[:1200])))
    assert_same_fit(c.partial_fit(X[1200:]), a)


def test_pickle_round_trip(fitted, clusterable):
    import pandas as pd

    back = pickle.loads(pickle.dumps(fitted))
    assert_same_fit(fitted, back)
    assert back.get_params() == fitted.get_params()
    assert back.fit_stats_ == fitted.fit_stats_
    new = clusterable[:100] + 0.005
    np.testing.assert_array_equal(back.approximate_predict(new)[0], fitted.approximate_predict(new)[0])
    # feature names survive; an unfitted estimator pickles as usual
    df = pd.DataFrame(clusterable, columns=["x", "y"])
    named = pickle.loads(pickle.dumps(chutoro.FISHDBC(min_cluster_size=15).fit(df)))
    assert list(named.feature_names_in_) == ["x", "y"]
    unfitted = pickle.loads(pickle.dumps(chutoro.FISHDBC(min_cluster_size=7)))
    assert unfitted.min_cluster_size == 7 and not hasattr(unfitted, "labels_")
    with pytest.raises(NotFittedError):
        unfitted.approximate_predict(clusterable[:5])


def test_pickle_keeps_the_token_vocabulary():
    lines = _token_lines(500, 1)
    est = chutoro.FISHDBC(metric="jaccard", min_cluster_size=10).fit(lines)
    back = pickle.loads(pickle.dumps(est))
    assert_same_fit(est, back)
    new = _token_lines(60, 4)
    np.testing.assert_array_equal(back.approximate_predict(new)[0], est.approximate_predict(new)[0])
    assert_same_fit(back.partial_fit(new), est.partial_fit(new))


def test_loaded_jaccard_model_keeps_its_token_vocabulary(tmp_path):
    # Model format 4 stores the vocabulary: the loaded model numbers new strings as the fitted one.
    est = chutoro.FISHDBC(metric="jaccard", min_cluster_size=10).fit(_token_lines(300, 1))
    est.save(tmp_path / "sets.chutoro")
    back = chutoro.load(tmp_path / "sets.chutoro")
    assert_same_fit(est, back)
    assert back.metric == "jaccard"
    new = _token_lines(60, 4) + ["brand_new_token t1w1"]
    np.testing.assert_array_equal(back.approximate_predict(new)[0], est.approximate_predict(new)[0])
    assert_same_fit(back.partial_fit(new), est.partial_fit(new))
    # ... and the grown vocabulary is saved again.
    back.save(tmp_path / "grown.chutoro")
    again = chutoro.load(tmp_path / "grown.chutoro")
    more = _token_lines(30, 5) + ["brand_new_token"]
    np.testing.assert_array_equal(again.approximate_predict(more)[0], est.approximate_predict(more)[0])


def test_jaccard_model_file_without_vocabulary_cannot_encode_new_strings():
    # A version 1 model file (the fuzz corpus' sets model) holds token ids only.
    old = Path(__file__).resolve().parents[1] / "fuzz" / "corpus" / "model" / "sets_hnsw.chutoro"
    back = chutoro.load(old)
    assert back.metric == "jaccard"
    back.recluster(min_cluster_size=back.min_cluster_size)
    with pytest.raises(NotImplementedError, match="stores token ids but not the tokens"):
        back.approximate_predict(["t1w1 t1w2"])
    with pytest.raises(NotImplementedError, match="stores token ids but not the tokens"):
        back.partial_fit(["t1w1 t1w2"])


def distance_1d(a: float, b: float) -> float:  # module level: picklable
    return abs(a - b)


def test_precomputed_and_callable_models(tmp_path, clusterable):
    from sklearn.metrics import pairwise_distances

    X = clusterable[:400]
    D = pairwise_distances(X).astype(np.float32)
    D = np.minimum(D, D.T)
    pre = chutoro.FISHDBC(metric="precomputed", min_cluster_size=10).fit(D)
    items = list(np.random.default_rng(0).normal(size=300).round(3))
    cal = chutoro.FISHDBC(metric=distance_1d, min_cluster_size=10).fit(items)
    for est, X_new, what in ((pre, D[:5], "precomputed"), (cal, items[:5], "callable")):
        with pytest.raises(NotImplementedError, match=f"partial_fit: not available for models fitted with .*{what}"):
            est.partial_fit(X_new)
        with pytest.raises(NotImplementedError, match=f"approximate_predict: not available .*{what}"):
            est.approximate_predict(X_new)
        assert_same_fit(pickle.loads(pickle.dumps(est)), est)
        est.recluster(min_cluster_size=20)
    # model files hold a fingerprint of such data: load needs it again
    pre.save(tmp_path / "pre.chutoro")
    cal.save(tmp_path / "cal.chutoro")
    assert_same_fit(chutoro.load(tmp_path / "pre.chutoro", D), pre)
    back = chutoro.load(tmp_path / "cal.chutoro", items, metric=distance_1d)
    assert_same_fit(back, cal)
    assert back.metric is distance_1d
    with pytest.raises(ValueError):
        chutoro.load(tmp_path / "pre.chutoro")
    with pytest.raises(ValueError):
        chutoro.load(tmp_path / "pre.chutoro", D * 2)  # not the fitted data
    with pytest.raises(ValueError):
        chutoro.load(tmp_path / "cal.chutoro", items, metric=lambda a, b: 2 * abs(a - b))
    with pytest.raises(ValueError):
        chutoro.load(tmp_path / "cal.chutoro")
    # a lambda metric cannot be pickled (pickle's own error)
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        pickle.dumps(chutoro.FISHDBC(metric=lambda a, b: abs(a - b), min_cluster_size=10).fit(items))


# ------------------------------------------------------------------ errors
def test_errors_before_fit(tmp_path, clusterable):
    est = chutoro.FISHDBC()
    with pytest.raises(NotFittedError):
        est.approximate_predict(clusterable)
    with pytest.raises(NotFittedError):
        chutoro.approximate_predict(est, clusterable)
    with pytest.raises(NotFittedError):
        est.save(tmp_path / "x.chutoro")
    with pytest.raises(TypeError, match="clusterer must be a chutoro.FISHDBC"):
        chutoro.approximate_predict(object(), clusterable)


def test_wrong_dimension_is_named(fitted, digits):
    with pytest.raises(ValueError, match=r"X has 64 features, but FISHDBC is expecting 2 features"):
        fitted.approximate_predict(digits[:10])
    est = chutoro.FISHDBC().fit(digits[:500])
    with pytest.raises(ValueError, match=r"X has 63 features, but FISHDBC is expecting 64 features"):
        est.partial_fit(digits[500:, :63])
    assert est.labels_.shape == (500,)
    # the library's own check (reached by sources that bypass scikit-learn's)
    with pytest.raises(TypeError, match="dimension"):
        fitted._model.approximate_predict(_core.DenseSource(digits[:10].astype(np.float32), "euclidean"))
    with pytest.raises(TypeError, match="metric"):
        fitted._model.add(_core.DenseSource(np.zeros((3, 2), np.float32) + 1, "cosine"))
    with pytest.raises(TypeError, match="kind"):
        fitted._model.approximate_predict(_core.StringSource(["a", "b"]))
    assert len(fitted._model) == len(fitted.labels_)


def test_bad_model_files(tmp_path, fitted):
    path = tmp_path / "good.chutoro"
    fitted.save(path)
    data = path.read_bytes()
    with pytest.raises(FileNotFoundError):
        chutoro.load(tmp_path / "missing.chutoro")
    corrupted = bytearray(data)
    corrupted[len(data) // 2] ^= 0xFF
    (tmp_path / "corrupted.chutoro").write_bytes(bytes(corrupted))
    with pytest.raises(ValueError, match="corrupted.chutoro"):
        chutoro.load(tmp_path / "corrupted.chutoro")
    (tmp_path / "truncated.chutoro").write_bytes(data[: len(data) - 100])
    with pytest.raises(ValueError, match="truncated.chutoro"):
        chutoro.load(tmp_path / "truncated.chutoro")
    (tmp_path / "text.chutoro").write_text("not a model\n")
    with pytest.raises(ValueError, match="text.chutoro"):
        chutoro.load(tmp_path / "text.chutoro")
    with pytest.raises(IsADirectoryError):
        chutoro.load(tmp_path)
    with pytest.raises(ValueError, match="load: metric is only needed with X"):
        chutoro.load(path, metric=distance_1d)
    with pytest.raises(ValueError):
        chutoro.load(path, np.zeros((3, 3)))  # this model stores its data
    with pytest.raises(OSError):
        fitted.save(tmp_path / "no" / "such" / "dir" / "m.chutoro")
    with pytest.raises(ValueError):  # corrupted pickle payload
        state = fitted.__getstate__()
        state["_model_bytes"] = state["_model_bytes"][:-9] + b"123456789"
        chutoro.FISHDBC().__setstate__(state)


def test_plugin_models(tmp_path):
    import os
    from pathlib import Path

    d = Path(os.environ.get("CHUTORO_PLUGIN_DIR") or Path(__file__).resolve().parents[2] / "build/release/examples/plugins")
    lib = d / "libchutoro_jaccard_tokens.so"
    if not lib.is_file():
        pytest.skip(f"example plugin not built (looked in {d})")
    lines = _token_lines(400, 1)
    f = tmp_path / "lines.txt"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    source = chutoro.load_plugin(lib, str(f))
    est = chutoro.FISHDBC(min_cluster_size=10).fit(source)
    with pytest.raises(NotImplementedError, match="partial_fit: not available .*plugin source \\('jaccard'"):
        est.partial_fit(source)
    with pytest.raises(NotImplementedError, match="approximate_predict: not available .*plugin"):
        est.approximate_predict(source)
    with pytest.raises(TypeError, match="cannot pickle a FISHDBC fitted on a plugin source"):
        pickle.dumps(est)
    est.save(tmp_path / "plugin.chutoro")
    back = chutoro.load(tmp_path / "plugin.chutoro", chutoro.load_plugin(lib, str(f)))
    assert_same_fit(est, back)
    assert back.metric == "jaccard"
    with pytest.raises(ValueError):
        chutoro.load(tmp_path / "plugin.chutoro")


def test_library_load_of_a_directory_is_an_oserror(tmp_path):
    with pytest.raises(OSError):
        _core.Model.load(tmp_path)
