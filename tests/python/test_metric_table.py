"""The one metric table through every door: each built-in vector metric's
distances against scipy.spatial.distance (Python), and the same clustering from
the CLI (--metric, --metric-param) and from Python (metric, metric_params).

The CLI is $CHUTORO_CLI, else build/release/chutoro; the CLI cases skip when
neither exists. A few seconds in all.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import distance as sd

import chutoro
from chutoro import _core

CLI = Path(os.environ.get("CHUTORO_CLI") or Path(__file__).resolve().parents[2] / "build/release/chutoro")

RNG = np.random.default_rng(7)
X = np.vstack([RNG.normal(c, 1.0, size=(25, 4)) for c in (0.0, 5.0, 10.0)]).astype(np.float32)
V = np.array([1.5, 0.5, 2.0, 1.0])
A = RNG.normal(size=(4, 4))
VI = A @ A.T + 4 * np.eye(4)

# (metric, metric_params, scipy's metric name, scipy's keyword arguments)
SCIPY_CASES = [
    ("euclidean", {}, "euclidean", {}),
    ("manhattan", {}, "cityblock", {}),
    ("cosine", {}, "cosine", {}),
    ("chebyshev", {}, "chebyshev", {}),
    ("minkowski", {"p": 3.0}, "minkowski", {"p": 3.0}),
    ("minkowski", {"p": 0.5}, "minkowski", {"p": 0.5}),
    ("minkowski", {}, "minkowski", {"p": 2.0}),
    ("seuclidean", {"V": V}, "seuclidean", {"V": V}),
    ("seuclidean", {}, "seuclidean", {"V": X.astype(np.float64).var(axis=0, ddof=1)}),
    ("mahalanobis", {"VI": VI}, "mahalanobis", {"VI": VI}),
    ("mahalanobis", {}, "mahalanobis", {"VI": np.linalg.inv(np.cov(X.astype(np.float64).T))}),
    ("canberra", {}, "canberra", {}),
    ("braycurtis", {}, "braycurtis", {}),
]


def _flat(params):
    return {k: (np.asarray(v).ravel().tolist() if k != "p" else v) for k, v in params.items()}


@pytest.mark.parametrize("metric,params,scipy_metric,scipy_kw", SCIPY_CASES)
def test_distances_match_scipy(metric, params, scipy_metric, scipy_kw):
    src = _core.vector_source(np.ascontiguousarray(X), metric, **_flat(params))
    want = sd.cdist(X.astype(np.float64), X.astype(np.float64), scipy_metric, **scipy_kw)
    for i, j in [(0, 1), (0, 74), (10, 40), (30, 31), (5, 5), (73, 2)]:
        got = src.distance(i, j)
        assert got == pytest.approx(want[i, j], rel=2e-5, abs=1e-5), (metric, i, j)


def test_braycurtis_and_canberra_zero_rows():
    Z = np.zeros((3, 4), dtype=np.float32)
    Z[2] = 1
    for metric in ("braycurtis", "canberra"):
        src = _core.vector_source(Z, metric)
        assert src.distance(0, 1) == 0.0  # scipy: NaN (0/0); a dissimilarity needs d(x, x) = 0
        assert src.distance(0, 2) == pytest.approx(sd.cdist(Z[:1], Z[2:], metric)[0, 0])


def test_table_is_one_list():
    names = [m["name"] for m in chutoro.metrics()]
    assert names[:3] == ["euclidean", "cosine", "manhattan"]
    for expected in ("chebyshev", "minkowski", "seuclidean", "mahalanobis", "canberra", "braycurtis",
                     "inner_product", "angular", "hamming", "tanimoto", "levenshtein", "jaccard"):
        assert expected in names
    aliases = {a: m["name"] for m in chutoro.metrics() for a in m["aliases"]}
    assert aliases == {"l2": "euclidean", "l1": "manhattan", "cityblock": "manhattan", "infinity": "chebyshev"}
    if CLI.exists():
        help_text = subprocess.run([str(CLI), "cluster", "--help"], capture_output=True, text=True).stdout
        for name in names:
            assert name in help_text, name


@pytest.mark.parametrize("metric", ["angular", "inner_product", "chebyshev", "l1", "cityblock", "infinity"])
def test_python_accepts_every_cli_metric(metric):
    est = chutoro.FISHDBC(min_cluster_size=10, metric=metric, candidates="exact").fit(X)
    canonical = {"l1": "manhattan", "cityblock": "manhattan", "infinity": "chebyshev"}.get(metric, metric)
    assert est._model.metric == canonical
    assert len(est.labels_) == len(X)
    if metric not in ("angular", "inner_product"):  # the blobs differ by position, not only by direction
        assert est.labels_.max() >= 1


def test_bit_metrics_in_python():
    B = (X > 5).astype(np.float32)
    for metric in ("hamming", "tanimoto"):
        est = chutoro.FISHDBC(min_cluster_size=10, metric=metric, candidates="exact").fit(B)
        assert len(est.labels_) == len(B)
        assert est._model.metric == metric


@pytest.mark.parametrize(
    "metric,params,cli_params",
    [
        ("chebyshev", {}, []),
        ("minkowski", {"p": 3}, ["p=3"]),
        ("seuclidean", {"V": V}, ["V=" + ",".join(map(repr, V.tolist()))]),
        ("seuclidean", {}, []),
        ("mahalanobis", {"VI": VI}, ["VI=" + ",".join(map(repr, VI.ravel().tolist()))]),
        ("mahalanobis", {}, []),
        ("canberra", {}, []),
        ("braycurtis", {}, []),
        ("l1", {}, []),
    ],
)
def test_cli_and_python_agree(tmp_path, metric, params, cli_params):
    if not CLI.exists():
        pytest.skip(f"{CLI} is not built")
    path = tmp_path / "x.csv"
    np.savetxt(path, X, delimiter=",", header="a,b,c,d", comments="", fmt="%.9g")
    Xr = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32)  # what the CLI reads
    out = tmp_path / "labels.csv"
    args = [str(CLI), "cluster", str(path), "--metric", metric, "--candidates", "exact", "--min-cluster-size",
            "10", "--quiet", "--output", str(out)]
    for c in cli_params:
        args += ["--metric-param", c]
    r = subprocess.run(args, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    cli_labels = np.loadtxt(out, delimiter=",", skiprows=1, usecols=0, dtype=int)
    est = chutoro.FISHDBC(min_cluster_size=10, metric=metric, metric_params=params or None, candidates="exact")
    np.testing.assert_array_equal(est.fit(Xr).labels_, cli_labels)


def test_cli_metric_param_errors(tmp_path):
    if not CLI.exists():
        pytest.skip(f"{CLI} is not built")
    path = tmp_path / "x.csv"
    np.savetxt(path, X, delimiter=",", header="a,b,c,d", comments="")
    for metric, setting, needle in [
        ("euclidean", "p=3", "euclidean takes no parameters"),
        ("minkowski", "q=3", "unknown name 'q'"),
        ("minkowski", "p=x", "'x' is not a number"),
        ("seuclidean", "p=2", "seuclidean takes V, not p"),
        ("minkowski", "p=-1", "p must be a finite number > 0"),
    ]:
        r = subprocess.run([str(CLI), "cluster", str(path), "--metric", metric, "--metric-param", setting,
                            "--output", str(tmp_path / "o.csv")], capture_output=True, text=True)
        assert r.returncode == 2, (setting, r.stderr)
        assert needle in r.stderr, (setting, r.stderr)


def test_metric_params_errors():
    with pytest.raises(ValueError, match="does not take 'p'"):
        chutoro.FISHDBC(metric="euclidean", metric_params={"p": 2}).fit(X)
    with pytest.raises(ValueError, match="finite number > 0"):
        chutoro.FISHDBC(metric="minkowski", metric_params={"p": 0}).fit(X)
    with pytest.raises(TypeError, match="metric_params must be a dict"):
        chutoro.FISHDBC(metric="minkowski", metric_params=[3]).fit(X)
    with pytest.raises(ValueError, match="1-D"):
        chutoro.FISHDBC(metric="seuclidean", metric_params={"V": np.ones((2, 2))}).fit(X)
    with pytest.raises(ValueError, match="4 values"):
        chutoro.FISHDBC(metric="seuclidean", metric_params={"V": [1.0, 2.0]}).fit(X)
    with pytest.raises(ValueError, match="not positive definite"):
        chutoro.FISHDBC(metric="mahalanobis", metric_params={"VI": -np.eye(4)}).fit(X)
    with pytest.raises(ValueError, match="disagree"):
        chutoro.FISHDBC(metric="minkowski", p=3, metric_params={"p": 2}).fit(X)


def test_hdbscan_p_spelling():
    a = chutoro.FISHDBC(min_cluster_size=10, metric="minkowski", p=3, candidates="exact").fit(X)
    b = chutoro.FISHDBC(min_cluster_size=10, metric="minkowski", metric_params={"p": 3}, candidates="exact").fit(X)
    np.testing.assert_array_equal(a.core_distances_, b.core_distances_)


@pytest.mark.parametrize("metric", ["seuclidean", "mahalanobis", "minkowski", "braycurtis", "angular", "hamming"])
def test_parameters_kept_for_new_items_and_files(tmp_path, metric):
    """Defaults computed from the fitted X (V, VI) measure new items alike, through
    partial_fit, approximate_predict, save/load and pickle."""
    import pickle

    data = (X > 5).astype(np.float32) if metric == "hamming" else X
    est = chutoro.FISHDBC(min_cluster_size=10, metric=metric, candidates="exact").fit(data[:60])
    before, _ = chutoro.approximate_predict(est, data[60:])
    path = tmp_path / "m.chutoro"
    est.save(path)
    loaded = chutoro.load(path)
    assert loaded.metric == metric
    if metric in ("seuclidean", "mahalanobis"):
        key = "V" if metric == "seuclidean" else "VI"
        np.testing.assert_allclose(np.ravel(loaded.metric_params[key]), np.ravel(est._model.metric_params[key]))
    np.testing.assert_array_equal(chutoro.approximate_predict(loaded, data[60:])[0], before)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(chutoro.approximate_predict(again, data[60:])[0], before)
    est.partial_fit(data[60:])
    assert len(est.labels_) == len(data)


def test_cli_predict_uses_the_models_parameters(tmp_path):
    """chutoro predict on a seuclidean / mahalanobis model measures the new rows with the
    model's V / VI (computed from the fitted rows), not with statistics of the new rows."""
    if not CLI.exists():
        pytest.skip(f"{CLI} is not built")
    fit_path, new_path = tmp_path / "fit.csv", tmp_path / "new.csv"
    np.savetxt(fit_path, X[:60], delimiter=",", header="a,b,c,d", comments="", fmt="%.9g")
    np.savetxt(new_path, X[60:], delimiter=",", header="a,b,c,d", comments="", fmt="%.9g")
    for metric in ("seuclidean", "mahalanobis"):
        model = tmp_path / f"{metric}.chutoro"
        r = subprocess.run([str(CLI), "fit", str(fit_path), "--metric", metric, "--min-cluster-size", "10",
                            "--candidates", "exact", "--save", str(model), "--quiet"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        r = subprocess.run([str(CLI), "predict", str(model), str(new_path), "--output", "-", "--quiet"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        cli = np.loadtxt(r.stdout.splitlines()[1:], delimiter=",", usecols=0, dtype=int)
        est = chutoro.load(model)
        np.testing.assert_array_equal(chutoro.approximate_predict(est, np.loadtxt(new_path, delimiter=",",
                                                                                   skiprows=1))[0], cli)
