"""The scikit-learn estimator :class:`FISHDBC`."""

from __future__ import annotations

import math
import numbers
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import validate_data

from chutoro import _core
from chutoro._trees import CondensedTree, MinimumSpanningTree, SingleLinkageTree

# Accepted names of the built-in dense metrics (scikit-learn / hdbscan aliases).
_DENSE_METRICS = {
    "euclidean": "euclidean",
    "l2": "euclidean",
    "cosine": "cosine",
    "manhattan": "manhattan",
    "l1": "manhattan",
    "cityblock": "manhattan",
}
_METRIC_CHOICES = (
    "euclidean, cosine, manhattan (or l2, l1, cityblock), levenshtein, jaccard, precomputed, or a callable"
)
_DEFAULT_METRIC = "euclidean"
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_DEFAULT_SEED = 42  # the library's and the CLI's default
_FITTED = (
    "labels_",
    "probabilities_",
    "outlier_scores_",
    "cluster_persistence_",
    "condensed_tree_",
    "single_linkage_tree_",
    "minimum_spanning_tree_",
    "core_distances_",
    "fit_stats_",
    "n_features_in_",
    "feature_names_in_",
)


class FISHDBC(ClusterMixin, BaseEstimator):
    """FISHDBC density-based clustering, a scalable approximation of HDBSCAN*.

    FISHDBC (Dell'Amico 2019, arXiv:1910.07283) builds an HNSW graph over the
    items (Malkov & Yashunin 2018) and keeps every distance computed while
    inserting an item as a candidate edge; the minimum spanning tree of those
    edges under mutual reachability gives HDBSCAN*'s hierarchy (Campello,
    Moulavi & Sander 2013; Campello et al. 2015): single-linkage tree,
    condensed tree, excess-of-mass (or leaf) clusters, GLOSH outlier scores.
    With ``candidates="exact"`` all n(n-1)/2 pairs are candidates and the
    result is HDBSCAN*'s own (the same as ``hdbscan.HDBSCAN`` up to the order
    in which equal-weight edges merge; see docs/python.md).

    The interface follows ``hdbscan.HDBSCAN``: the same parameter names and
    defaults, and the same fitted attributes, shapes and dtypes.

    Parameters
    ----------
    min_cluster_size : int, default=5
        Smallest size a group must have to be a cluster (>= 2).
    min_samples : int or None, default=None
        k of the core distance: the distance to the k-th nearest item, the
        item itself counting as the first (as in hdbscan and scikit-learn).
        None uses ``min_cluster_size``. Must be >= 1 and <= n.
    metric : str or callable, default="euclidean"
        ``"euclidean"``, ``"cosine"``, ``"manhattan"`` (aliases ``"l2"``,
        ``"l1"``, ``"cityblock"``) for vectors, computed in float32;
        ``"levenshtein"`` for a sequence of ``str`` (unit costs over Unicode
        code points); ``"jaccard"`` for a sequence of ``str`` taken as sets of
        whitespace-separated tokens (1 - |A n B| / |A u B|); ``"precomputed"`` for a square (n, n) distance matrix;
        or a callable ``metric(a, b) -> float >= 0`` over the items of any
        sequence of Python objects. The callable path calls Python once per
        distance (about a microsecond each on top of the function itself):
        use it for thousands of items, not millions, and prefer the hnsw
        candidates (O(n log n) calls) over exact ones (n^2 calls).
        With a plugin source as X (:func:`chutoro.load_plugin`) the plugin
        defines the distance: metric must be left at its default or name the
        plugin's distance (``source.name``).
    cluster_selection_method : {"eom", "leaf"}, default="eom"
        Excess of mass (Campello et al. 2013, section 4.1) or the leaves of
        the condensed tree.
    cluster_selection_epsilon : float, default=0.0
        Clusters split below this mutual-reachability distance are merged
        back (Malzer & Baum 2020). Finite, >= 0.
    allow_single_cluster : bool, default=False
        Allow the root to be selected as the only cluster.
    candidates : {"hnsw", "exact"}, default="hnsw"
        Where the candidate edges of the spanning tree come from: ``"hnsw"``
        (FISHDBC, about O(n log n) distances) or ``"exact"`` (all pairs,
        O(n^2) distances, O(n) memory: HDBSCAN* itself).
    m : int, default=16
        HNSW links per node on layers >= 1 (layer 0 keeps 2m), in [2, 1024].
    ef_construction : int, default=100
        HNSW candidate-list size while inserting, in [1, 100000].
    random_state : int, numpy RandomState/Generator or None, default=None
        Seed of the HNSW level draw and insertion order. None uses the
        library's fixed default seed (42, as the CLI does), so repeated fits
        give identical results; an int in [0, 2**64) is used as the seed.
    n_jobs : int or None, default=None
        Worker threads (OpenMP), following scikit-learn's convention: None
        means 1, -1 all cores, -2 all but one. A callable metric always runs
        on one thread.
    verbose : bool, default=False
        Show a progress bar on stderr while fitting.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,), dtype intp
        Cluster labels 0..k-1 (in ascending condensed-tree id), -1 for noise.
    probabilities_ : ndarray of shape (n_samples,), dtype float64
        Strength of each item's membership in its cluster, in [0, 1]; 0 for noise.
    outlier_scores_ : ndarray of shape (n_samples,), dtype float64
        GLOSH outlier scores (Campello et al. 2015, section 5.1), in [0, 1];
        NaN where the item's condensed-tree subtree holds exact duplicates (as
        hdbscan).
    cluster_persistence_ : ndarray of shape (n_clusters,), dtype float64
        Persistence (normalised stability) of each selected cluster.
    condensed_tree_ : CondensedTree
        The condensed tree, hdbscan's record layout (parent, child,
        lambda_val, child_size).
    single_linkage_tree_ : SingleLinkageTree
        The single-linkage tree, shape (n_samples - 1, 4), scipy layout.
    minimum_spanning_tree_ : MinimumSpanningTree
        The minimum spanning tree under mutual reachability, shape
        (n_samples - 1, 3): from, to, distance; sorted by distance. Always
        computed (hdbscan needs ``gen_min_span_tree=True``).
    core_distances_ : ndarray of shape (n_samples,), dtype float64
        Core distance of each item (for hnsw candidates: the estimate FISHDBC
        used, never below the exact value).
    fit_stats_ : dict
        Counters and stage times in seconds of the fit (distance_computations,
        candidate_edges, seconds_graph, seconds_mst, seconds_hierarchy, ...).
    n_features_in_ : int
        Number of columns of X (vector and precomputed inputs only).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when X has string column names (a DataFrame).

    Notes
    -----
    Distances are float32: float64 input is rounded to float32 once (values
    beyond float32's range raise ValueError). A C-contiguous float32 array is
    handed to the library without a Python-side copy; the library packs it
    once into aligned, padded rows.

    ``fit`` releases the GIL while the library works, and Ctrl-C
    (KeyboardInterrupt) stops it at the library's next progress report,
    leaving the estimator unfitted. A fitted estimator is read-only and may
    be shared between threads; do not call ``fit`` on one instance from two
    threads at once.

    Examples
    --------
    >>> import numpy as np, chutoro
    >>> X = np.random.default_rng(0).normal(size=(300, 2))
    >>> labels = chutoro.FISHDBC(min_cluster_size=10).fit_predict(X)
    """

    def __init__(
        self,
        min_cluster_size: int = 5,
        min_samples: int | None = None,
        metric: str | Callable[[Any, Any], float] = "euclidean",
        cluster_selection_method: str = "eom",
        cluster_selection_epsilon: float = 0.0,
        allow_single_cluster: bool = False,
        candidates: str = "hnsw",
        m: int = 16,
        ef_construction: int = 100,
        random_state: int | np.random.RandomState | np.random.Generator | None = None,
        n_jobs: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.metric = metric
        self.cluster_selection_method = cluster_selection_method
        self.cluster_selection_epsilon = cluster_selection_epsilon
        self.allow_single_cluster = allow_single_cluster
        self.candidates = candidates
        self.m = m
        self.ef_construction = ef_construction
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None) -> FISHDBC:
        """Cluster X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or (n_samples, n_samples)
            for ``metric="precomputed"``, or a sequence of str for
            ``metric="levenshtein"``, or any sequence of objects for a
            callable metric. Vectors may be float32 or float64 (or anything
            numpy converts to them); NaN and infinite values are rejected.
            Also accepted: a plugin source from :func:`chutoro.load_plugin`,
            and any Arrow object exposing ``__arrow_c_stream__`` or
            ``__arrow_c_array__`` (pyarrow Array, ChunkedArray, RecordBatch,
            one-column Table, RecordBatchReader, ...), read without a
            Python-side copy: a FixedSizeList/List<float32|float64> column is
            dense vectors (for the vector metrics), a string column is items
            for ``"levenshtein"`` or ``"jaccard"``. Nulls raise ValueError
            naming the row. pandas objects take the array-like path.
        y : ignored

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Out-of-range parameters, empty or too small input (fewer items
            than ``min_cluster_size`` or ``min_samples``), NaN/infinite or
            out-of-float32-range values, a non-square, negative or asymmetric
            precomputed matrix, or a negative/NaN distance from a callable.
        TypeError
            Parameters of the wrong type, sparse input, non-str items for
            levenshtein or jaccard, a callable that returns something other
            than a number, an Arrow column of another type (or a table with
            several columns), a metric that does not fit the plugin or Arrow
            column.
        KeyboardInterrupt
            Ctrl-C during the fit; the estimator is left unfitted.
        """
        self._clear_fitted()
        p = self._check_params()
        source, data = self._make_source(X, p["metric"])
        arrow_dim = int(source.dim) if data is None and isinstance(source, _core.DenseSource) else None
        n = len(source)
        if n < p["min_cluster_size"]:
            raise ValueError(
                f"X has {n} sample{'' if n == 1 else 's'}, fewer than min_cluster_size "
                f"({p['min_cluster_size']}); clustering needs at least min_cluster_size samples"
            )
        k = p["min_samples"] if p["min_samples"] is not None else p["min_cluster_size"]
        if k > n:
            raise ValueError(
                f"X has {n} samples, fewer than min_samples ({k})"
                + ("" if p["min_samples"] is not None else " (min_samples defaults to min_cluster_size)")
            )
        bar = _ProgressBar() if self.verbose else None
        started = time.perf_counter()
        try:
            r = _core.fit(
                source,
                min_cluster_size=p["min_cluster_size"],
                min_samples=p["min_samples"],
                cluster_selection_method=p["cluster_selection_method"],
                cluster_selection_epsilon=p["cluster_selection_epsilon"],
                allow_single_cluster=p["allow_single_cluster"],
                candidates=p["candidates"],
                m=p["m"],
                ef_construction=p["ef_construction"],
                seed=p["seed"],
                threads=p["threads"],
                progress=bar,
            )
        except BaseException:
            if bar is not None:
                bar.close()
            raise
        if bar is not None:
            bar.complete()
            bar.close()
        self._set_fitted(r, data, n)
        if arrow_dim is not None:
            self.n_features_in_ = arrow_dim  # dense Arrow input (validate_data sets it for arrays)
        if bar is not None:
            bar.summary(self.labels_, time.perf_counter() - started)
        return self

    def fit_predict(self, X: Any, y: Any = None, **kwargs: Any) -> np.ndarray:
        """Cluster X and return ``labels_``, shape (n_samples,), dtype intp. See :meth:`fit`."""
        return self.fit(X).labels_

    # ------------------------------------------------------------ internals
    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = self.metric == "precomputed"
        if self.metric in ("levenshtein", "jaccard") or callable(self.metric):
            tags.input_tags.two_d_array = False
            tags.input_tags.string = self.metric in ("levenshtein", "jaccard")
        return tags

    def _clear_fitted(self) -> None:
        for name in _FITTED:
            self.__dict__.pop(name, None)

    def _check_params(self) -> dict[str, Any]:
        p: dict[str, Any] = {}
        p["min_cluster_size"] = _int_param("min_cluster_size", self.min_cluster_size, 2)
        p["min_samples"] = None if self.min_samples is None else _int_param("min_samples", self.min_samples, 1)
        p["m"] = _int_param("m (HNSW links per node)", self.m, 2, 1024, name="m")
        p["ef_construction"] = _int_param("ef_construction", self.ef_construction, 1, 100000)
        eps = self.cluster_selection_epsilon
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
            raise TypeError(f"cluster_selection_epsilon must be a number (got {type(eps).__name__})")
        if not (math.isfinite(float(eps)) and float(eps) >= 0):
            raise ValueError(f"cluster_selection_epsilon must be a finite number >= 0 (got {eps})")
        p["cluster_selection_epsilon"] = float(eps)
        p["cluster_selection_method"] = _choice(
            "cluster_selection_method", self.cluster_selection_method, ("eom", "leaf")
        )
        p["candidates"] = _choice("candidates", self.candidates, ("hnsw", "exact"))
        if not isinstance(self.allow_single_cluster, (bool, np.bool_)):
            raise TypeError(f"allow_single_cluster must be a bool (got {type(self.allow_single_cluster).__name__})")
        p["allow_single_cluster"] = bool(self.allow_single_cluster)
        p["seed"] = _seed(self.random_state)
        if self.n_jobs is not None and (isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, numbers.Integral)):
            raise TypeError(f"n_jobs must be an int or None (got {type(self.n_jobs).__name__})")
        p["threads"] = int(effective_n_jobs(self.n_jobs))
        metric = self.metric
        if callable(metric):
            p["metric"] = metric
        elif isinstance(metric, str):
            name = metric.lower()
            if name not in _DENSE_METRICS and name not in ("levenshtein", "jaccard", "precomputed"):
                raise ValueError(f"metric: unknown value {metric!r} (expected {_METRIC_CHOICES})")
            p["metric"] = name
        else:
            raise TypeError(f"metric must be a str or a callable (got {type(metric).__name__})")
        return p

    def _make_source(self, X: Any, metric: str | Callable[[Any, Any], float]) -> tuple[_core.Source, np.ndarray | None]:
        """The library's data source for X, and the dense data kept for plotting (or None)."""
        if isinstance(X, _core.Source):
            return _plugin_source(X, self.metric), None
        if callable(metric):
            items = _as_item_list(X)
            return _core.CallableSource(items, metric), None
        if metric != "precomputed" and _is_arrow(X):
            return _core.arrow_source(X, _DENSE_METRICS.get(metric, metric)), None
        if metric == "levenshtein":
            return _core.StringSource(_as_strings(X)), None
        if metric == "jaccard":
            return _core.TokenSetSource(_as_strings(X, metric)), None
        X = validate_data(
            self,
            X,
            dtype=[np.float32, np.float64],
            order="C",
            ensure_all_finite=False,
            ensure_min_samples=1,
        )
        if metric == "precomputed":
            return _core.PrecomputedSource(_precomputed_float32(X)), None
        return _core.DenseSource(_dense_float32(X), _DENSE_METRICS[metric]), X

    def _set_fitted(self, r: dict[str, Any], data: np.ndarray | None, n: int) -> None:
        labels = np.asarray(r["labels"]).astype(np.intp)
        raw = np.empty(
            len(r["condensed_parent"]),
            dtype=[("parent", np.intp), ("child", np.intp), ("lambda_val", np.float64), ("child_size", np.intp)],
        )
        raw["parent"] = r["condensed_parent"]
        raw["child"] = r["condensed_child"]
        raw["lambda_val"] = r["condensed_lambda_val"]
        raw["child_size"] = r["condensed_child_size"]
        self.labels_ = labels
        self.probabilities_ = np.asarray(r["probabilities"])
        self.outlier_scores_ = np.asarray(r["outlier_scores"])
        self.cluster_persistence_ = np.asarray(r["cluster_persistence"])
        self.condensed_tree_ = CondensedTree(raw, labels)
        self.single_linkage_tree_ = SingleLinkageTree(np.asarray(r["single_linkage_tree"]))
        self.minimum_spanning_tree_ = MinimumSpanningTree(np.asarray(r["minimum_spanning_tree"]), data)
        self.core_distances_ = np.asarray(r["core_distances"], dtype=np.float64)
        self.fit_stats_ = dict(r["stats"])


# ---------------------------------------------------------------- helpers
def _int_param(label: str, value: Any, lo: int, hi: int | None = None, name: str | None = None) -> int:
    name = name or label
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int (got {type(value).__name__} {value!r})")
    v = int(value)
    if v < lo or (hi is not None and v > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(f"{label} must be {rng} (got {v})")
    return v


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str (got {type(value).__name__})")
    if value not in choices:
        raise ValueError(f"{name}: unknown value '{value}' (expected {' or '.join(choices)})")
    return value


def _seed(random_state: Any) -> int:
    if random_state is None:
        return _DEFAULT_SEED
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, (bool, np.bool_)):
        v = int(random_state)
        if not 0 <= v < 2**64:
            raise ValueError(f"random_state must be in [0, 2**64) (got {v})")
        return v
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    raise TypeError(
        f"random_state must be None, an int, a numpy RandomState or Generator (got {type(random_state).__name__})"
    )


def _dense_float32(X: np.ndarray) -> np.ndarray:
    """X as a C-contiguous float32 array: X itself when it already is one."""
    if X.dtype == np.float32:
        return np.ascontiguousarray(X)
    with np.errstate(invalid="ignore"):
        big = np.abs(X) > _FLOAT32_MAX
    big &= np.isfinite(X)
    if big.any():
        i, j = (int(v) for v in np.argwhere(big)[0])
        raise ValueError(
            f"X: row {i}, column {j} is {float(X[i, j])!r}, beyond float32's range (|x| <= 3.4e38); "
            "chutoro computes distances in float32"
        )
    return X.astype(np.float32)


def _precomputed_float32(D: np.ndarray) -> np.ndarray:
    n, m = D.shape
    if n != m:
        raise ValueError(f"precomputed distances: X must be a square (n, n) matrix (got {n} x {m})")
    bad = ~np.isfinite(D)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        raise ValueError(f"precomputed distances: X[{i}, {j}] is {float(D[i, j])!r}; distances must be finite")
    neg = D < 0
    if neg.any():
        i, j = (int(v) for v in np.argwhere(neg)[0])
        raise ValueError(f"precomputed distances: X[{i}, {j}] = {float(D[i, j])!r} is negative; distances must be >= 0")
    asym = ~np.isclose(D, D.T, rtol=1e-5, atol=1e-8)
    if asym.any():
        i, j = (int(v) for v in np.argwhere(asym)[0])
        raise ValueError(
            f"precomputed distances: X is not symmetric: X[{i}, {j}] = {float(D[i, j])!r} but X[{j}, {i}] = {float(D[j, i])!r}"
        )
    return _dense_float32(D)


def _plugin_source(X: Any, metric: Any) -> Any:
    """X itself (a source made by load_plugin) when the metric agrees with it."""
    if callable(metric) or not isinstance(metric, str) or metric.lower() not in (_DEFAULT_METRIC, X.name.lower()):
        raise ValueError(
            f"X is a plugin source whose distance is {X.name!r}; leave metric at its default or set it to "
            f"{X.name!r} (got {metric!r})"
        )
    return X


def _is_arrow(X: Any) -> bool:
    """True for objects of the Arrow PyCapsule interface (pandas objects keep the array-like path)."""
    if isinstance(X, np.ndarray) or type(X).__module__.split(".")[0] == "pandas":
        return False
    return hasattr(X, "__arrow_c_stream__") or hasattr(X, "__arrow_c_array__")


def _as_strings(X: Any, metric: str = "levenshtein") -> list[str]:
    if isinstance(X, (str, bytes)):
        raise TypeError(f"metric='{metric}' needs a sequence of str, not a single str")
    if isinstance(X, np.ndarray):
        if X.ndim != 1:
            raise ValueError(f"metric='{metric}' needs a 1-D sequence of str (got an array of shape {X.shape})")
        X = X.tolist()
    try:
        items = list(X)
    except TypeError:
        raise TypeError(f"metric='{metric}' needs a sequence of str (got {type(X).__name__})") from None
    if not items:
        raise ValueError(f"X is empty: metric='{metric}' needs at least one str")
    for i, s in enumerate(items):
        if not isinstance(s, str):
            raise TypeError(f"X[{i}] is {type(s).__name__}, not str (metric='{metric}' clusters strings)")
        try:
            s.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ValueError(f"X[{i}] is not valid Unicode text: {e.reason} at position {e.start}") from None
    return items


def _as_item_list(X: Any) -> list[Any]:
    if isinstance(X, (str, bytes)):
        raise TypeError("a callable metric needs a sequence of items, not a single str")
    try:
        items = list(X)
    except TypeError:
        raise TypeError(f"a callable metric needs a sequence of items (got {type(X).__name__})") from None
    if not items:
        raise ValueError("X is empty: a callable metric needs at least one item")
    return items


class _ProgressBar:
    """A one-line progress bar on stderr, redrawn when the percentage or stage changes."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.last: tuple[str, int] | None = None
        self.drawn = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        pct = 100 if total == 0 else min(100, done * 100 // total)
        if (stage, pct) == self.last:
            return
        self.last = (stage, pct)
        filled = pct * 30 // 100
        self.stream.write(f"\rchutoro: {stage:<14} [{'#' * filled}{'-' * (30 - filled)}] {pct:3d}%")
        self.stream.flush()
        self.drawn = True

    def complete(self) -> None:
        """Shows the last stage at 100% (its final report may come before its last items)."""
        if self.last is not None and self.last[1] < 100:
            self(self.last[0], 1, 1)

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False

    def summary(self, labels: np.ndarray, seconds: float) -> None:
        k = int(labels.max()) + 1 if labels.size else 0
        noise = float(np.mean(labels < 0)) if labels.size else 0.0
        self.stream.write(f"chutoro: {len(labels)} items, {k} clusters, {noise:.1%} noise, {seconds:.3f} s\n")
        self.stream.flush()
