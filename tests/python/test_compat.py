"""What hdbscan and scikit-learn users pass and expect at the edges: the
constructor arguments chutoro has nothing to choose for (accepted, validated,
no effect), NaN/inf rows labelled as scikit-learn does (opt-in), DataFrame
input with non-numeric columns, and hdbscan's tree plot options. Seconds."""

from __future__ import annotations

import numpy as np
import pytest

import chutoro

RNG = np.random.default_rng(3)
X = np.vstack([RNG.normal(c, 0.5, size=(30, 2)) for c in (0.0, 6.0, 12.0)])


@pytest.fixture(scope="module")
def reference():
    return chutoro.FISHDBC(min_cluster_size=8, candidates="exact").fit(X)


@pytest.mark.parametrize(
    "params",
    [
        {"algorithm": "best"},
        {"algorithm": "boruvka_kdtree"},
        {"algorithm": "kd_tree"},
        {"leaf_size": 10},
        {"copy": True},
        {"copy": "warn"},
        {"gen_min_span_tree": False},
        {"approx_min_span_tree": False},
        {"memory": None},
        {"memory": "/tmp/nowhere"},
        {"core_dist_n_jobs": 2},
        {"alpha": 1.0},
        {"match_reference_implementation": False},
    ],
)
def test_accepted_arguments_change_nothing(reference, params):
    est = chutoro.FISHDBC(min_cluster_size=8, candidates="exact", **params).fit(X)
    np.testing.assert_array_equal(est.labels_, reference.labels_)
    np.testing.assert_array_equal(est.minimum_spanning_tree_.to_numpy(), reference.minimum_spanning_tree_.to_numpy())
    assert est.get_params()[next(iter(params))] == next(iter(params.values()))


@pytest.mark.parametrize(
    "params,error,message",
    [
        ({"algorithm": "fastest"}, ValueError, r"algorithm: unknown value 'fastest'"),
        ({"algorithm": 3}, TypeError, r"algorithm"),
        ({"leaf_size": 0}, ValueError, r"leaf_size must be >= 1"),
        ({"leaf_size": 2.5}, TypeError, r"leaf_size must be an int"),
        ({"copy": "yes"}, TypeError, r"copy must be a bool"),
        ({"gen_min_span_tree": 1}, TypeError, r"gen_min_span_tree must be a bool"),
        ({"memory": 3}, TypeError, r"memory must be None"),
        ({"core_dist_n_jobs": "4"}, TypeError, r"core_dist_n_jobs must be an int"),
        ({"alpha": 0.0}, ValueError, r"alpha must be a finite number > 0"),
        ({"alpha": "1"}, TypeError, r"alpha must be a number"),
        ({"alpha": 1.5}, NotImplementedError, r"alpha=1.5"),
        ({"match_reference_implementation": True}, NotImplementedError, r"min_cluster_size"),
        ({"non_finite": "drop"}, ValueError, r"non_finite: unknown value 'drop'"),
    ],
)
def test_bad_compat_arguments(params, error, message):
    with pytest.raises(error, match=message):
        chutoro.FISHDBC(**params).fit(X)


# Bad values and types of parameters both chutoro and sklearn.cluster.HDBSCAN take.
_BAD_SHARED = [
    {"min_cluster_size": 1},
    {"min_cluster_size": 2.5},
    {"min_samples": 0},
    {"min_samples": "5"},
    {"cluster_selection_epsilon": -1.0},
    {"cluster_selection_epsilon": "0"},
    {"cluster_selection_method": "best"},
    {"cluster_selection_method": 1},
    {"allow_single_cluster": "yes"},
    {"metric": "no_such_metric"},
    {"metric": 3},
    {"max_cluster_size": -1},
    {"leaf_size": 0},
    {"algorithm": "fastest"},
    {"n_jobs": "4"},
    {"store_centers": "mean"},
    {"copy": "yes"},
]
# chutoro's own parameters and hdbscan's.
_BAD_OWN = [
    {"m": 1},
    {"ef_construction": 0},
    {"candidates": "all"},
    {"random_state": -1},
    {"random_state": "seed"},
    {"prediction_data": 1},
    {"cluster_selection_persistence": -0.5},
    {"cluster_selection_epsilon_max": 0.1, "cluster_selection_epsilon": 0.5},
    {"device": "tpu"},
    {"non_finite": "drop"},
    {"memory": 3},
    {"alpha": 0.0},
    {"metric": "euclidean", "metric_params": {"q": 1}},
]


@pytest.mark.parametrize("params", _BAD_SHARED + _BAD_OWN, ids=lambda p: ",".join(f"{k}={v!r}" for k, v in p.items()))
def test_bad_parameters_raise_invalid_parameter_error(params):
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError) as e:
        chutoro.FISHDBC(**params).fit(X)
    # A subclass of both: code written for hdbscan (ValueError) or for a type check (TypeError) still catches it.
    assert isinstance(e.value, ValueError) and isinstance(e.value, TypeError)
    name = next(iter(params))
    assert name in str(e.value) or "metric" in str(e.value), str(e.value)
    if params in _BAD_SHARED:
        from sklearn.cluster import HDBSCAN

        with pytest.raises(InvalidParameterError):
            HDBSCAN(**params).fit(X)


def test_bad_parameters_in_partial_fit_and_recluster():
    from sklearn.utils._param_validation import InvalidParameterError

    est = chutoro.FISHDBC(min_cluster_size=8).fit(X)
    with pytest.raises(InvalidParameterError, match="min_cluster_size"):
        est.recluster(min_cluster_size=0)
    np.testing.assert_array_equal(est.recluster().labels_, chutoro.FISHDBC(min_cluster_size=8).fit(X).labels_)
    est.set_params(cluster_selection_method="middle")
    with pytest.raises(InvalidParameterError, match="cluster_selection_method"):
        est.partial_fit(X[:5])


def test_algorithm_type_error_like_sklearn():
    sklearn_cluster = pytest.importorskip("sklearn.cluster")
    with pytest.raises(ValueError):
        sklearn_cluster.HDBSCAN(algorithm="fastest").fit(X)
    with pytest.raises(ValueError):
        chutoro.FISHDBC(algorithm="fastest").fit(X)


def _with_bad_rows():
    Xb = X.copy()
    Xb[3, 0] = np.nan
    Xb[40, 1] = np.inf
    Xb[70] = [np.nan, -np.inf]  # both: missing wins, as scikit-learn
    return Xb


def test_non_finite_label_matches_sklearn():
    sklearn_cluster = pytest.importorskip("sklearn.cluster")
    Xb = _with_bad_rows()
    est = chutoro.FISHDBC(min_cluster_size=8, candidates="exact", non_finite="label").fit(Xb)
    sk = sklearn_cluster.HDBSCAN(min_cluster_size=8, copy=True).fit(Xb)
    for i, code in ((3, -3), (40, -2), (70, -3)):
        assert est.labels_[i] == code == sk.labels_[i]
    assert np.isnan(est.probabilities_[3]) and np.isnan(sk.probabilities_[3])
    assert est.probabilities_[40] == 0 == sk.probabilities_[40]
    finite = np.isfinite(Xb).all(axis=1)
    clean = chutoro.FISHDBC(min_cluster_size=8, candidates="exact").fit(Xb[finite])
    np.testing.assert_array_equal(est.labels_[finite], clean.labels_)
    assert len(est.labels_) == len(Xb) == len(est.outlier_scores_) == len(est.core_distances_)
    # re-selection keeps the encoding
    est.recluster(min_cluster_size=10)
    assert est.labels_[40] == -2 and len(est.labels_) == len(Xb)


def test_non_finite_noise_and_raise():
    Xb = _with_bad_rows()
    est = chutoro.FISHDBC(min_cluster_size=8, non_finite="noise").fit(Xb)
    assert est.labels_[3] == est.labels_[40] == est.labels_[70] == -1
    assert est.probabilities_[3] == 0
    with pytest.raises(ValueError, match=r"row 3, column 0 is NaN"):
        chutoro.FISHDBC(min_cluster_size=8).fit(Xb)


def test_dataframe_columns():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"x": X[:, 0], "label": ["a"] * len(X), "y": X[:, 1], "when": pd.Timestamp(0)})
    with pytest.raises(ValueError, match=r"'label' \((object|str)\).*'when' \(datetime64.*not numeric.*columns="):
        chutoro.FISHDBC(min_cluster_size=8).fit(df)
    ref = chutoro.FISHDBC(min_cluster_size=8).fit(X)
    est = chutoro.FISHDBC(min_cluster_size=8, columns=["x", "y"]).fit(df)
    np.testing.assert_array_equal(est.labels_, ref.labels_)
    assert list(est.feature_names_in_) == ["x", "y"]
    est2 = chutoro.FISHDBC(min_cluster_size=8, columns="numeric").fit(df)
    np.testing.assert_array_equal(est2.labels_, ref.labels_)
    # predicting on the same frame picks the fitted columns
    labels, _ = est2.approximate_predict(df.iloc[:5])
    np.testing.assert_array_equal(labels, ref.approximate_predict(X[:5])[0])
    with pytest.raises(ValueError, match=r"\['z'\] are not columns"):
        chutoro.FISHDBC(columns=["x", "z"]).fit(df)
    with pytest.raises(ValueError, match=r"'label' \((object|str)\) are not numeric"):
        chutoro.FISHDBC(columns=["x", "label"]).fit(df)
    with pytest.raises(TypeError, match=r"not one"):
        chutoro.FISHDBC(columns=["x"]).fit(X)


def test_single_linkage_plot_takes_hdbscan_options(reference):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3)
    ax = reference.single_linkage_tree_.plot(axis=axes[0], vary_line_width=True, cmap="plasma", colorbar=True)
    widths = {round(line.get_linewidth(), 3) for line in ax.get_lines()}
    assert len(widths) > 1  # thicker for larger clusters
    ax = reference.single_linkage_tree_.plot(axis=axes[1], vary_line_width=False, colorbar=False)
    assert {line.get_linewidth() for line in ax.get_lines()} == {1.0}
    reference.single_linkage_tree_.plot(axis=axes[2], truncate_mode="lastp", p=10, color="k")
    reference.condensed_tree_.plot(leaf_separation=2, cmap="magma", colorbar=False, log_size=True)
    plt.close("all")
