"""The scikit-learn estimator :class:`FISHDBC`, its model files
(:func:`load`) and :func:`approximate_predict`."""

from __future__ import annotations

import errno
import math
import numbers
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from chutoro import _core, _soft
from chutoro._trees import CondensedTree, MinimumSpanningTree, SingleLinkageTree
from chutoro._vectorized import stack_rows, vectorized

# The library's one metric table (include/chutoro/metric_table.hpp): the CLI and C++ read the same list.
_METRIC_TABLE = {m["name"]: m for m in _core.builtin_metrics()}
_METRIC_ALIASES = dict(_core.builtin_metric_aliases())
# Accepted names (canonical names and aliases) of the built-in vector metrics -> canonical name.
_DENSE_METRICS = {name: name for name, m in _METRIC_TABLE.items() if m["items"] == "vectors"}
_DENSE_METRICS.update({a: n for a, n in _METRIC_ALIASES.items() if n in _DENSE_METRICS})
_STRING_METRICS = tuple(name for name, m in _METRIC_TABLE.items() if m["items"] == "strings")
_METRIC_CHOICES = (
    ", ".join(n for n, m in _METRIC_TABLE.items() if m["items"] == "vectors")
    + " (aliases "
    + ", ".join(f"{a}={n}" for a, n in _METRIC_ALIASES.items())
    + ") for vectors, "
    + ", ".join(_STRING_METRICS)
    + " for strings, precomputed, or a callable"
)
_DEFAULT_METRIC = "euclidean"
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_DEFAULT_SEED = 42  # the library's and the CLI's default
_DEVICES = ("auto", "cpu", "cuda")  # chutoro::device_kind
# Model data kinds holding vectors (n_features_in_, plotting rows): the library's dense and product sources,
# and its bit sources (vectors of 0/1, e.g. from the CLI's hamming/tanimoto).
_VECTOR_KINDS = ("dense", "products", "bits", "sparse")
# The metrics sparse feature matrices offer (the table's sparse column), with their aliases.
_SPARSE_METRICS = {name: name for name, m in _METRIC_TABLE.items() if m["sparse"]}
_SPARSE_METRICS.update({a: n for a, n in _METRIC_ALIASES.items() if n in _SPARSE_METRICS})
# Fitted attributes computed from the model (rebuilt from it after unpickling).
_FROM_MODEL = (
    "labels_",
    "probabilities_",
    "outlier_scores_",
    "cluster_persistence_",
    "condensed_tree_",
    "single_linkage_tree_",
    "minimum_spanning_tree_",
    "core_distances_",
    "device_",
    "_prediction_data",
    "candidates_",
)
_FITTED = _FROM_MODEL + (
    "centroids_",
    "medoids_",
    "fit_stats_",
    "n_features_in_",
    "feature_names_in_",
    "_model",
    "_vocabulary",
    "_source_input",
    "_finite_index",
    "_non_finite_labels",
    "_n_raw",
    "_too_few",
    "distributed_",
)
# Parameters of the selection stage: recluster() changes them without rebuilding.
_SELECTION = (
    "min_cluster_size",
    "cluster_selection_method",
    "cluster_selection_epsilon",
    "allow_single_cluster",
    "max_cluster_size",
    "cluster_selection_persistence",
    "cluster_selection_epsilon_max",
)
# Parameters that fix the graph and the spanning tree: partial_fit() refuses changes to them.
_BUILD = ("min_samples", "candidates", "m", "ef_construction")
# Model data kinds whose items are not stored in model files, and what load() needs for them.
_NOT_STORED = {
    "precomputed": "the distance matrix (X=D)",
    "sparse_precomputed": "the sparse distance matrix (X=D)",
    "callable": "the items and the metric (X=items, metric=f)",
    "plugin": "the plugin source (X=chutoro.load_plugin(...))",
}


class FISHDBC(ClusterMixin, BaseEstimator):
    """FISHDBC density-based clustering, a scalable approximation of HDBSCAN*.

    FISHDBC (Dell'Amico 2019, arXiv:1910.07283) builds an HNSW graph over the
    items (Malkov & Yashunin 2018); every distance computed while inserting an
    item refines the core distances, and the pairs each insertion ends up with
    (its nearest found, and the pairs its neighbour selection compares) become
    candidate edges (docs/algorithm.md, "Candidate edges", says which distances
    are edges and which only offers); the minimum spanning tree of those
    edges under mutual reachability gives HDBSCAN*'s hierarchy (Campello,
    Moulavi & Sander 2013; Campello et al. 2015): single-linkage tree,
    condensed tree, excess-of-mass (or leaf) clusters, GLOSH outlier scores.
    With ``candidates="exact"`` (and with the default ``"auto"`` where exact
    is cheap: low dimension or few items) the tree is the exact minimum
    spanning tree over all pairs and the result is HDBSCAN*'s own (the same
    as ``hdbscan.HDBSCAN`` up to the order in which equal-weight edges merge;
    see docs/python.md).

    The interface follows ``hdbscan.HDBSCAN`` and ``sklearn.cluster.HDBSCAN``:
    their parameter names and defaults (``min_samples`` in scikit-learn's
    convention, see below), and hdbscan's fitted attributes, shapes and
    dtypes; docs/python.md has a table from every hdbscan and scikit-learn
    name to chutoro's.

    Parameters
    ----------
    min_cluster_size : int, default=5
        Smallest size a group must have to be a cluster (>= 2).
    min_samples : int or None, default=None
        k of the core distance: the distance to the k-th nearest item, the
        item itself counting as the first (scikit-learn's convention, as in
        ``sklearn.cluster.HDBSCAN``). hdbscan does not count the item:
        ``hdbscan.HDBSCAN(min_samples=k)`` is ``FISHDBC(min_samples=k + 1)``.
        None uses ``min_cluster_size`` (scikit-learn's default; hdbscan's
        default is ``min_cluster_size + 1`` in this convention). Must be >= 1;
        above n it is capped at n (as scikit-learn and hdbscan do).
    metric : str or callable, default="euclidean"
        Any built-in metric of the library's one metric table (the CLI's
        ``--metric`` takes the same names; ``chutoro.metrics()`` lists them
        with their formulas): for vectors ``"euclidean"``, ``"cosine"``,
        ``"manhattan"``, ``"chebyshev"``, ``"minkowski"`` (``p``),
        ``"seuclidean"`` (``V``), ``"mahalanobis"`` (``VI``), ``"canberra"``,
        ``"braycurtis"`` (scipy.spatial.distance's formulas), ``"inner_product"``,
        ``"angular"``, and ``"hamming"`` / ``"tanimoto"`` for 0/1 vectors
        (aliases ``"l2"``, ``"l1"``, ``"cityblock"``, ``"infinity"``);
        ``"levenshtein"`` for a sequence of ``str`` (unit costs over Unicode
        code points); ``"jaccard"`` for a sequence of ``str`` taken as sets of
        whitespace-separated tokens (1 - |A n B| / |A u B|); ``"precomputed"`` for a square (n, n) distance matrix
        (dense, or scipy.sparse with missing entries infinite); for a scipy.sparse feature
        matrix ``"euclidean"``, ``"cosine"``, ``"manhattan"`` or ``"inner_product"``;
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
    max_cluster_size : int, default=0
        eom only: a cluster of more items is never selected (its children
        are considered instead); 0 = no limit (hdbscan 0.8.40's).
    cluster_selection_persistence : float, default=0.0
        Leaf clusters whose persistence (lambda = 1/distance from birth to
        death) is below this are merged into their parent before selection;
        this changes ``condensed_tree_`` (hdbscan 0.8.40's). Finite, >= 0.
    cluster_selection_epsilon_max : float, default=inf
        eom only: a cluster born at a mutual-reachability distance above this
        is never selected (hdbscan 0.8.40's). Must be >=
        ``cluster_selection_epsilon``.
    prediction_data : bool, default=False
        Build ``prediction_data_`` (the exemplars) at fit, as hdbscan. The
        soft-clustering and prediction functions work without it.
    store_centers : {None, "centroid", "medoid", "both"}, default=None
        Set ``centroids_`` / ``medoids_`` at fit (scikit-learn's
        ``HDBSCAN(store_centers=...)``; vector data only).
    candidates : {"auto", "hnsw", "exact", "knn"}, default="auto"
        Where the candidate edges of the spanning tree come from: ``"hnsw"``
        (FISHDBC, about O(n log n) distances), ``"exact"`` (HDBSCAN* itself:
        a kd-tree for euclidean/manhattan vectors of low dimension, else all
        pairs, O(n^2) distances, O(n) memory) or ``"auto"``: exact where it
        is cheap (the kd-tree at up to 8 dimensions, or at most 4096 items),
        else hnsw (docs/algorithm.md). ``candidates_`` says which ran; an
        exact model that :meth:`partial_fit` grows past all-pairs turns hnsw.
        ``"knn"``: GPU candidates (``device="cuda"`` only, dense float32
        vectors): the exact kNN graph on the GPU (k = 2 min_samples), its
        spanning forest, components joined exactly (docs/gpu.md); never
        chosen by ``"auto"``; on the CPU a ``NotImplementedError`` says so.
    m : int, default=16
        HNSW links per node on layers >= 1 (layer 0 keeps 2m), in [2, 1024].
    ef_construction : int, default=100
        HNSW candidate-list size while inserting, in [1, 100000].
    random_state : int, numpy RandomState/Generator or None, default=None
        Seed of the HNSW level draw and insertion order. None uses the
        library's fixed default seed (42, as the CLI does), so repeated fits
        give identical results; an int in [0, 2**64) is used as the seed.
    n_jobs : int or None, default=None
        Worker threads (OpenMP). None uses all cores, as scikit-learn's
        OpenMP-based estimators do, unless ``OMP_NUM_THREADS`` or a
        threadpoolctl limit (``threadpool_limits(n, user_api="openmp")``)
        says fewer; a positive int is that many threads, -1 all cores, -2
        all but one (joblib's convention). A callable metric always runs on
        one thread. The result does not depend on it.
    verbose : bool, default=False
        Show a progress bar on stderr while fitting.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the graph stage (HNSW build, core distances, spanning tree)
        runs; the result is the same on every device. ``"auto"`` follows the
        ``CHUTORO_DEVICE`` environment variable when it is set, else uses a
        GPU stage only where it is measured at least 2x faster than the CPU
        at the same result, else the CPU; ``fit_stats_`` says which device
        ran and why ``"auto"`` stayed on the CPU. ``"cpu"`` and ``"cuda"``
        win over ``CHUTORO_DEVICE``; ``"cuda"`` raises NotImplementedError
        naming why when no GPU can be used (e.g. a build without the CUDA
        backend). Like ``n_jobs`` it is read at every fit and partial_fit and
        not stored in model files: :func:`chutoro.load` and unpickling take
        their own device (``"auto"`` for unpickling).

    metric_params : dict or None, default=None
        The metric's parameter, as scikit-learn's and hdbscan's
        ``metric_params``: ``{"p": float > 0}`` for minkowski (default 2),
        ``{"V": array (n_features,)}`` for seuclidean (variances > 0; default
        the columns' variances, ddof 1, as scipy's ``pdist``),
        ``{"VI": array (n_features, n_features)}`` for mahalanobis (symmetric
        positive definite; default the inverse covariance of X). A key the
        metric does not take raises ValueError. Defaults computed from X are
        kept in the model, so ``partial_fit`` and ``approximate_predict``
        measure new items alike.
    p : float or None, default=None
        hdbscan's spelling of ``metric_params={"p": p}`` (minkowski only).

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
        candidate_edges, seconds_graph, seconds_mst, seconds_hierarchy, ...),
        ``device`` (``"cpu"`` or ``"cuda"``, the device the graph stage ran on)
        and ``device_fallback_reason`` (why ``device="auto"`` ran on the CPU,
        else ``""``).
    device_ : str
        The device the model's graph stages run on (``"cpu"`` or ``"cuda"``).
    exemplars_ : list of ndarray
        Per cluster, its most representative items (hdbscan's definition;
        rows for vector data), computed on first access.
    relative_validity_ : float
        hdbscan's fast DBCV estimate from the minimum spanning tree.
    centroids_, medoids_ : ndarray of shape (n_clusters, n_features)
        With ``store_centers`` (scikit-learn's definitions).
    prediction_data_ : PredictionData
        With ``prediction_data=True`` or after :meth:`generate_prediction_data`.
    candidates_ : str
        The candidate mode of the fitted tree, ``"hnsw"``, ``"exact"`` or ``"knn"``
        (``candidates="auto"`` resolved; also ``fit_stats_["candidates"]``).
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

    A fitted estimator keeps its model (the data, the HNSW graph, the core
    distances and the spanning tree; the data is a copy for vector, string
    and token inputs): :meth:`partial_fit` adds items, :meth:`recluster`
    re-selects the clusters with new selection parameters without
    rebuilding, :meth:`approximate_predict` labels new items (as hdbscan's
    ``approximate_predict``), and :meth:`save` / :func:`chutoro.load` and
    pickle keep it (a pickle holds the model file's bytes; an estimator
    fitted on a plugin source cannot be pickled: save it instead).

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
        candidates: str = "auto",
        m: int = 16,
        ef_construction: int = 100,
        random_state: int | np.random.RandomState | np.random.Generator | None = None,
        n_jobs: int | None = None,
        verbose: bool = False,
        device: str = "auto",
        max_cluster_size: int = 0,
        cluster_selection_persistence: float = 0.0,
        cluster_selection_epsilon_max: float = float("inf"),
        prediction_data: bool = False,
        store_centers: str | None = None,
        metric_params: dict[str, Any] | None = None,
        p: float | None = None,
        non_finite: str = "raise",
        columns: Any = None,
        algorithm: str = "auto",
        leaf_size: int = 40,
        copy: bool = False,
        gen_min_span_tree: bool = True,
        approx_min_span_tree: bool = True,
        memory: Any = None,
        core_dist_n_jobs: int | None = None,
        alpha: float = 1.0,
        match_reference_implementation: bool = False,
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
        self.device = device
        self.max_cluster_size = max_cluster_size
        self.cluster_selection_persistence = cluster_selection_persistence
        self.cluster_selection_epsilon_max = cluster_selection_epsilon_max
        self.prediction_data = prediction_data
        self.store_centers = store_centers
        self.metric_params = metric_params
        self.p = p
        self.non_finite = non_finite
        self.columns = columns
        self.algorithm = algorithm
        self.leaf_size = leaf_size
        self.copy = copy
        self.gen_min_span_tree = gen_min_span_tree
        self.approx_min_span_tree = approx_min_span_tree
        self.memory = memory
        self.core_dist_n_jobs = core_dist_n_jobs
        self.alpha = alpha
        self.match_reference_implementation = match_reference_implementation

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        comm: Any = None,
        overlap: int = 2,
        replication_margin: float | None = None,
    ) -> FISHDBC:
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
            A scipy.sparse matrix or array (CSR; CSC and the other formats are
            converted with ``.tocsr()``, duplicate entries summed) is a sparse
            feature matrix for ``metric`` euclidean, cosine, manhattan or
            inner_product (and aliases l2, l1, cityblock), measured by
            merge-joining rows, never densified; with ``metric="precomputed"``
            a sparse (n, n) distance matrix whose missing entries are infinite
            distances (no edge), as hdbscan reads it: it must be connected and
            give every item at least ``min_samples - 1`` stored neighbours, and
            ``candidates="auto"`` measures it over all pairs.
        y : ignored
        comm : mpi4py intracommunicator, optional
            Fit across the processes of ``comm`` (e.g. ``MPI.COMM_WORLD``
            under ``mpirun -np P python script.py``; docs/distributed.md).
            Collective: every rank calls ``fit`` with the same parameters
            and its own part of the data (at least one row), the parts in
            rank order forming the data set (vectors for euclidean, cosine,
            manhattan, inner_product, angular, hamming or tanimoto, or
            strings for levenshtein or jaccard). Each rank then holds
            ``labels_``, ``probabilities_`` and ``outlier_scores_`` of its
            own rows (gather them with ``comm.gather``), ``cluster_persistence_``
            and ``distributed_`` (n, first: the global index of its first
            row, ranks, stats of its work and traffic; all_ranks on rank 0).
            The model-backed attributes and methods (trees, predict,
            partial_fit, save) are not available after such a fit. Needs
            mpi4py (ImportError otherwise); a failure on any rank raises
            the same exception on every rank, naming the rank.
        overlap, replication_margin :
            With ``comm``: each item goes to the shards of its ``overlap``
            nearest centres (only those within ``1 + replication_margin``
            times the nearest centre's distance, when given).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Out-of-range parameters, empty or too small input (fewer items
            than ``min_cluster_size`` or ``min_samples``), NaN/infinite or
            out-of-float32-range values, a non-square, negative or asymmetric
            precomputed matrix, a negative/NaN distance from a callable, or
            a ``CHUTORO_DEVICE`` other than auto, cpu or cuda (with
            ``device="auto"``); for sparse X a metric it does not offer, a bad
            CSR row (naming it), and for a sparse precomputed matrix an
            asymmetric or negative entry, several connected components,
            an item with fewer than ``min_samples - 1`` stored neighbours, or
            ``candidates="hnsw"``.
        TypeError
            Parameters of the wrong type, non-str items for
            levenshtein or jaccard, a callable that returns something other
            than a number, an Arrow column of another type (or a table with
            several columns), a metric that does not fit the plugin or Arrow
            column.
        NotImplementedError
            ``device="cuda"`` (or ``CHUTORO_DEVICE=cuda`` with
            ``device="auto"``) where no GPU can be used, naming why;
            ``non_finite`` other than "raise" with sparse X.
        KeyboardInterrupt
            Ctrl-C during the fit; the estimator is left unfitted.
        """
        self._clear_fitted()
        if comm is not None:
            from chutoro import _distributed

            return _distributed.fit(self, X, comm, overlap, replication_margin)
        if overlap != 2 or replication_margin is not None:
            raise TypeError("fit: overlap and replication_margin apply only with comm= (a distributed fit)")
        p = self._check_params()
        X = _select_columns(X, self.columns, fitted_names=None)
        finite_index = n_raw = None
        if _is_sparse(X) and p["non_finite"] != "raise":
            raise NotImplementedError(
                f"non_finite={p['non_finite']!r} with sparse X: sparse rows with NaN or infinite values are always "
                "refused (naming the row and column); drop them first"
            )
        if p["non_finite"] != "raise" and _is_vector_metric(p["metric"]) and not _is_arrow(X) and not _is_sparse(X):
            X = _validate_dense(self, X, reset=True)
            finite = np.isfinite(X).all(axis=1)
            if not finite.all():
                finite_index, n_raw = np.flatnonzero(finite), len(X)
                with np.errstate(invalid="ignore", over="ignore"):
                    missing = np.isnan(X.sum(axis=1))  # scikit-learn's rule: inf + -inf counts as missing
                X = X[finite]
                if len(X) == 0:
                    raise ValueError("X: every row holds a NaN or infinite value; nothing is left to cluster")
        vocabulary = _core.TokenVocabulary() if p["metric"] == "jaccard" else None
        if _is_sparse(X) and p["metric"] == "precomputed":
            p["candidates"] = _sparse_precomputed_candidates(p["candidates"])
        source, data, source_input = self._make_source(X, p["metric"], vocabulary, p["metric_params"])
        if _is_sparse(X) and p["metric"] == "precomputed":
            k = p["min_samples"] if p["min_samples"] is not None else p["min_cluster_size"]
            _check_sparse_graph(source_input, min(k, len(source)))
        arrow_dim = int(source.dim) if data is None and _is_arrow(X) and source.dim else None
        n = len(source)
        if n < 2:
            raise ValueError(f"X has {n} sample; clustering needs at least 2 (as scikit-learn's HDBSCAN)")
        if p["min_samples"] is not None and p["min_samples"] > n:
            p["min_samples"] = n  # capped, as hdbscan does (its min(n - 1, k) in its convention)
        p["min_cluster_size_asked"] = p["min_cluster_size"]
        if p["min_cluster_size"] > n:
            # Fewer items than one cluster needs: all noise, as hdbscan and scikit-learn give. The model is
            # built with the largest min_cluster_size it takes; labels are set to noise below.
            p["min_cluster_size"] = n
            if p["min_samples"] is None:
                p["min_samples"] = n
        started = time.perf_counter()
        model = self._with_progress(
            lambda bar: _core.Model(
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
                device=p["device"],
                max_cluster_size=p["max_cluster_size"],
                cluster_selection_persistence=p["cluster_selection_persistence"],
                cluster_selection_epsilon_max=p["cluster_selection_epsilon_max"],
            )
        )
        self._model = model
        self._vocabulary = vocabulary
        self._source_input = source_input
        if finite_index is not None:
            self._finite_index = finite_index
            self._non_finite_labels = np.where(missing, -3, -2)[~finite] if p["non_finite"] == "label" else None
            self._n_raw = n_raw
        if p["min_cluster_size_asked"] != p["min_cluster_size"]:
            self._too_few = True
        self._refresh(data)
        if arrow_dim is not None:
            self.n_features_in_ = arrow_dim  # dense Arrow input (validate_data sets it for arrays)
        if self.verbose:
            _ProgressBar().summary(self.labels_, time.perf_counter() - started)
        return self

    def fit_predict(self, X: Any, y: Any = None, **kwargs: Any) -> np.ndarray:
        """Cluster X and return ``labels_``, shape (n_samples,), dtype intp. See :meth:`fit`
        (``comm``, ``overlap`` and ``replication_margin`` are passed on to it)."""
        distributed = {k: kwargs[k] for k in ("comm", "overlap", "replication_margin") if k in kwargs}
        return self.fit(X, **distributed).labels_

    # ------------------------------------------------- the growing model
    def partial_fit(self, X: Any, y: Any = None) -> FISHDBC:
        """Add the items of X to the model (FISHDBC's incremental update).

        The first call (on an unfitted estimator) is :meth:`fit`. Later calls
        insert X's items into the HNSW graph, update the core-distance
        estimates with every distance computed doing so, and merge the new
        candidate edges into the spanning tree (Dell'Amico 2019, section
        3.3; exact mode recomputes the exact tree over all items). All fitted
        attributes then cover every item so far, in the order added: the
        first fit's items, then each batch's.

        X must be of the fitted kind: vectors of the same dimension (else
        ValueError, as scikit-learn reports it), strings for levenshtein and
        jaccard. Changed selection parameters (``min_cluster_size``,
        ``cluster_selection_method``, ``cluster_selection_epsilon``,
        ``allow_single_cluster``, ``max_cluster_size``,
        ``cluster_selection_persistence``, ``cluster_selection_epsilon_max``) take effect; changed ``min_samples``,
        ``metric``, ``candidates``, ``m`` or ``ef_construction`` raise
        ValueError (they fix the graph: call :meth:`fit` to rebuild). With
        ``min_samples=None`` the model keeps the k of its fit (the
        ``min_cluster_size`` of that time). The model keeps the seed of its
        fit; ``n_jobs`` and ``device`` are read at every call (a loaded
        model starts with ``n_jobs=None``: all cores).

        Raises
        ------
        NotImplementedError
            For models that cannot grow: ``metric="precomputed"``, callable
            metrics and plugin sources (and jaccard models loaded from a
            model file written before format version 4, which holds no
            token vocabulary).
        """
        if not self.__sklearn_is_fitted__():
            return self.fit(X)
        model = self._model
        self._check_can_grow("partial_fit")
        p = self._check_params()
        self._check_build_unchanged(p)
        source = self._model_source(X, extend=True)
        started = time.perf_counter()
        model.set_threads(int(p["threads"]))
        model.set_device(p["device"])
        self._with_progress(lambda bar: model.add(source, progress=bar))
        try:
            self._cluster_model(p)
        finally:
            self._refresh()  # the items were added: the attributes cover them
        if self.verbose:
            _ProgressBar().summary(self.labels_, time.perf_counter() - started)
        return self

    def recluster(self, **selection: Any) -> FISHDBC:
        """Re-select the clusters with new selection parameters, without rebuilding.

        Accepts ``min_cluster_size``, ``cluster_selection_method``,
        ``cluster_selection_epsilon``, ``allow_single_cluster``,
        ``max_cluster_size``, ``cluster_selection_persistence`` and
        ``cluster_selection_epsilon_max``: they are
        set on the estimator (as :meth:`set_params` would), and the clusters
        are extracted again from the fitted spanning tree, in O(n log n)
        without computing a distance; every fitted attribute is refreshed.
        Without arguments the estimator's current selection parameters are
        applied (e.g. after ``set_params``). ``fit`` always rebuilds the
        graph, as scikit-learn requires; other parameters cannot change here.
        The core distances keep the fit's k: with ``min_samples=None`` a new
        ``min_cluster_size`` does not change k here, while a new ``fit``
        would use it as k.
        On error the parameters and attributes are left as they were.

        Returns
        -------
        self
        """
        check_is_fitted(self)
        unknown = sorted(set(selection) - set(_SELECTION))
        if unknown:
            raise TypeError(
                f"recluster() takes only selection parameters ({', '.join(_SELECTION)}); got {', '.join(unknown)}"
                " (other parameters fix the graph: set them and call fit)"
            )
        saved = {name: getattr(self, name) for name in selection}
        try:
            self.set_params(**selection)
            # The metric is the model's (a loaded model's may be one Python does not build, e.g. the CLI's
            # angular or hamming): only the parameters used here are checked.
            p = self._check_params(check_metric=False)
            self._model.set_threads(int(p["threads"]))
            self._cluster_model(p, always=True)
        except BaseException:
            self.set_params(**saved)
            raise
        stats = self.fit_stats_
        self._refresh(self._mst_data)
        self.fit_stats_ = stats  # those of the fit or partial_fit that built the tree
        return self

    def approximate_predict(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Labels and membership probabilities of new items, without adding them.

        hdbscan's ``approximate_predict`` (McInnes et al., "Predicting
        clusters for new points"): each new item joins the condensed tree
        where its nearest model item under mutual reachability would put it,
        and takes that cluster's label (or -1, noise) and a probability in
        [0, 1]. The labels are those of ``labels_``; the model is not changed.
        Unlike hdbscan no ``prediction_data=True`` is needed.

        Parameters
        ----------
        X : items of the fitted kind (vectors of the fitted dimension, or str)

        Returns
        -------
        labels : ndarray of shape (n_new,), int32
        probabilities : ndarray of shape (n_new,), float64

        Raises
        ------
        NotFittedError
            Before fit.
        ValueError
            Vectors of another dimension (naming both), NaN/infinite values.
        NotImplementedError
            For precomputed, callable and plugin models, which have no
            distances to new items.
        """
        check_is_fitted(self)
        self._check_can_grow("approximate_predict")
        source = self._model_source(X, extend=False)
        self._model.set_threads(_threads(self.n_jobs))
        labels, probabilities = self._model.approximate_predict(source)
        return np.asarray(labels), np.asarray(probabilities)

    # ------------------------------------- soft clustering (hdbscan.prediction)
    def membership_vector(self, X: Any) -> np.ndarray:
        """Soft cluster membership of new items, shape (n_new, n_clusters):
        :func:`chutoro.membership_vector` (hdbscan.prediction.membership_vector)."""
        return _soft.membership_vector(self, X)

    def all_points_membership_vectors(self) -> np.ndarray:
        """Soft cluster membership of the fitted items, shape (n_samples, n_clusters):
        :func:`chutoro.all_points_membership_vectors`."""
        return _soft.all_points_membership_vectors(self)

    def approximate_predict_scores(self, X: Any) -> np.ndarray:
        """GLOSH outlier scores of new items, shape (n_new,):
        :func:`chutoro.approximate_predict_scores`."""
        return _soft.approximate_predict_scores(self, X)

    def generate_prediction_data(self) -> None:
        """Set ``prediction_data_`` (a :class:`chutoro.PredictionData`: the
        exemplars), as hdbscan's method of that name. Prediction and soft
        clustering work without it; recluster and partial_fit rebuild it."""
        check_is_fitted(self)
        self._prediction_data = _soft.PredictionData(self)

    @property
    def prediction_data_(self) -> _soft.PredictionData:
        """The :class:`chutoro.PredictionData` of ``prediction_data=True`` or
        :meth:`generate_prediction_data`; AttributeError before either."""
        data = self.__dict__.get("_prediction_data")
        if data is None:
            raise AttributeError("No prediction data was generated (fit with prediction_data=True or call generate_prediction_data())")
        return data

    @property
    def exemplars_(self) -> list[Any]:
        """hdbscan's exemplars_: per cluster label, its most representative
        items (rows for vector data): the items of the leaf clusters below the
        selected cluster that leave their leaf at its largest lambda."""
        check_is_fitted(self)
        if self.__dict__.get("_prediction_data") is None:
            self.generate_prediction_data()
        return self._prediction_data.exemplars

    @property
    def relative_validity_(self) -> float:
        """hdbscan's relative_validity_: DBCV (Moulavi et al. 2014) approximated
        on ``minimum_spanning_tree_``, fast enough to compare selection
        parameters; :func:`chutoro.validity_index` is the full index."""
        check_is_fitted(self)
        return _soft.relative_validity(self.labels_, self.minimum_spanning_tree_.to_numpy())

    def dbscan_clustering(self, cut_distance: float, min_cluster_size: int = 5) -> np.ndarray:
        """DBSCAN* labels at one mutual-reachability distance (hdbscan's
        dbscan_clustering): the flat cut of ``single_linkage_tree_`` at
        ``cut_distance``; groups of fewer than ``min_cluster_size`` items are
        noise (-1). Shape (n_samples,), intp. The same partition as
        hdbscan's (labels may be numbered differently)."""
        check_is_fitted(self)
        if isinstance(cut_distance, bool) or not isinstance(cut_distance, numbers.Real) or math.isnan(cut_distance):
            raise ValueError(f"dbscan_clustering: cut_distance must be a number (got {cut_distance!r})")
        mcs = _int_param("min_cluster_size", min_cluster_size, 1)
        return self.single_linkage_tree_.get_clusters(cut_distance=float(cut_distance), min_cluster_size=mcs)

    def weighted_cluster_centroid(self, cluster_id: int) -> np.ndarray:
        """Membership-weighted mean of cluster ``cluster_id``'s vectors, shape
        (n_features,) (hdbscan's method; vector data only)."""
        return _soft.weighted_centroid(self, cluster_id)

    def weighted_cluster_medoid(self, cluster_id: int) -> np.ndarray:
        """The member of cluster ``cluster_id`` with the smallest
        membership-weighted sum of distances to the others, shape
        (n_features,) (hdbscan's method; vector data only)."""
        return _soft.weighted_medoid(self, cluster_id)

    def _predict_soft(self, X: Any, soft: bool) -> dict[str, Any]:
        check_is_fitted(self)
        self._check_can_grow("membership_vector" if soft else "approximate_predict_scores")
        source = self._model_source(X, extend=False)
        self._model.set_threads(_threads(self.n_jobs))
        return self._model.predict_soft(source, soft)

    # ---------------------------------------------------- files, pickles
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted model to a model file (docs/model_format.md).

        The file holds the parameters, the data (except for precomputed,
        callable and plugin inputs: :func:`chutoro.load` then needs them
        again), the graph and the spanning tree; :func:`chutoro.load` gives
        back an estimator with identical fitted attributes that can
        :meth:`partial_fit`, :meth:`recluster` and :meth:`approximate_predict`.
        The write is atomic (a temporary file renamed over ``path``). Not
        stored: ``feature_names_in_``, ``fit_stats_``. The token vocabulary
        of ``metric="jaccard"`` is stored (format version 4), so a loaded
        jaccard model takes and predicts new strings.

        Raises
        ------
        NotFittedError
            Before fit.
        OSError
            The file cannot be written (naming the path and the step).
        """
        check_is_fitted(self)
        self._model.save(os.fspath(path))

    def __sklearn_is_fitted__(self) -> bool:
        return getattr(self, "_model", None) is not None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())  # object.__getstate__ may return __dict__ itself
        model = state.pop("_model", None)
        if model is None:
            return state
        if model.source_kind == "plugin":
            raise TypeError(
                "cannot pickle a FISHDBC fitted on a plugin source (the plugin's items live in its library); "
                "save(path) the model and chutoro.load(path, X=chutoro.load_plugin(...)) it instead"
            )
        for name in _FROM_MODEL:
            state.pop(name, None)
        state["_model_bytes"] = model.to_bytes()
        state["_model_kind"] = model.source_kind
        if state.get("_vocabulary") is not None:
            state["_vocabulary"] = state["_vocabulary"].tokens()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        blob = state.pop("_model_bytes", None)
        kind = state.pop("_model_kind", None)
        super().__setstate__(state)
        if blob is None:
            return
        if self.__dict__.get("_vocabulary") is not None:
            self._vocabulary = _core.TokenVocabulary(self._vocabulary)
        source = None
        if kind == "precomputed":
            source = _core.PrecomputedSource(self._source_input)
        elif kind == "sparse_precomputed":
            source = _core.SparsePrecomputedSource(*self._source_input[:3])
        elif kind == "callable":
            source = _callable_source(self._source_input, self.metric)
        stats = self.__dict__.get("fit_stats_")
        centres = {k: self.__dict__[k] for k in ("centroids_", "medoids_") if k in self.__dict__}
        self._model = _core.Model.from_bytes(blob, source, what="pickled FISHDBC")
        self._model.set_threads(_threads(self.n_jobs))
        self._refresh()
        if stats is not None:
            self.fit_stats_ = stats
        self.__dict__.update(centres)  # computed from X as given (the model keeps float32 rows)

    # ------------------------------------------------------------ internals
    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = self.metric == "precomputed"
        tags.input_tags.sparse = isinstance(self.metric, str) and (
            self.metric.lower() in _SPARSE_METRICS or self.metric == "precomputed"
        )
        if self.metric in ("levenshtein", "jaccard") or callable(self.metric):
            tags.input_tags.two_d_array = False
            tags.input_tags.string = self.metric in ("levenshtein", "jaccard")
        return tags

    def _clear_fitted(self) -> None:
        for name in _FITTED:
            self.__dict__.pop(name, None)

    def _with_progress(self, work: Callable[[Any], Any]) -> Any:
        """work(progress) with a progress bar on stderr when verbose."""
        bar = _ProgressBar() if self.verbose else None
        try:
            out = work(bar)
        except BaseException:
            if bar is not None:
                bar.close()
            raise
        if bar is not None:
            bar.complete()
            bar.close()
        return out

    def _check_params(self, check_metric: bool = True) -> dict[str, Any]:
        """The validated parameters. A bad value or type raises scikit-learn's
        InvalidParameterError (a subclass of both ValueError and TypeError), as
        scikit-learn's estimators do in fit; NotImplementedError stays as it is."""
        try:
            return self._checked_params(check_metric)
        except InvalidParameterError:
            raise
        except (TypeError, ValueError) as e:
            raise InvalidParameterError(str(e)) from e

    def _checked_params(self, check_metric: bool) -> dict[str, Any]:
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
        p["candidates"] = _choice("candidates", self.candidates, ("auto", "hnsw", "exact", "knn"))
        if not isinstance(self.allow_single_cluster, (bool, np.bool_)):
            raise TypeError(f"allow_single_cluster must be a bool (got {type(self.allow_single_cluster).__name__})")
        p["allow_single_cluster"] = bool(self.allow_single_cluster)
        p["max_cluster_size"] = _int_param("max_cluster_size", self.max_cluster_size, 0)
        for name in ("cluster_selection_persistence", "cluster_selection_epsilon_max"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise TypeError(f"{name} must be a number (got {type(v).__name__})")
            p[name] = float(v)
        if not (math.isfinite(p["cluster_selection_persistence"]) and p["cluster_selection_persistence"] >= 0):
            raise ValueError(
                f"cluster_selection_persistence must be a finite number >= 0 (got {self.cluster_selection_persistence})"
            )
        if math.isnan(p["cluster_selection_epsilon_max"]) or p["cluster_selection_epsilon_max"] < p["cluster_selection_epsilon"]:
            raise ValueError(
                f"cluster_selection_epsilon_max must be >= cluster_selection_epsilon "
                f"(got {self.cluster_selection_epsilon_max} < {p['cluster_selection_epsilon']})"
            )
        if not isinstance(self.prediction_data, (bool, np.bool_)):
            raise TypeError(f"prediction_data must be a bool (got {type(self.prediction_data).__name__})")
        if self.store_centers not in (None, "centroid", "medoid", "both"):
            raise ValueError(
                f"store_centers must be None, 'centroid', 'medoid' or 'both' (got {self.store_centers!r})"
            )
        if self.store_centers is not None and check_metric and (
            callable(self.metric) or str(self.metric).lower() in ("precomputed", "levenshtein", "jaccard")
        ):
            raise ValueError(
                f"store_centers={self.store_centers!r} needs vector data, not metric={self.metric!r}"
            )
        p["seed"] = _seed(self.random_state)
        if self.n_jobs is not None and (isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, numbers.Integral)):
            raise TypeError(f"n_jobs must be an int or None (got {type(self.n_jobs).__name__})")
        _check_compat_params(self)
        n_jobs = self.n_jobs if self.n_jobs is not None else self.core_dist_n_jobs
        p["threads"] = _threads(n_jobs)
        p["non_finite"] = _choice("non_finite", self.non_finite, ("raise", "label", "noise"))
        p["device"] = _choice("device", self.device, _DEVICES)
        metric = self.metric
        if not check_metric:
            p["metric"] = metric
        elif callable(metric):
            p["metric"] = metric
        elif isinstance(metric, str):
            name = metric.lower()
            if name not in _DENSE_METRICS and name not in _STRING_METRICS + ("precomputed",):
                raise ValueError(f"metric: unknown value {metric!r} (expected {_METRIC_CHOICES})")
            p["metric"] = name
        else:
            raise TypeError(f"metric must be a str or a callable (got {type(metric).__name__})")
        p["metric_params"] = _metric_params(p["metric"], self.metric_params, self.p) if check_metric else None
        return p

    def _make_source(
        self,
        X: Any,
        metric: str | Callable[[Any, Any], float],
        vocabulary: Any = None,
        p_metric: dict[str, Any] | None = None,
    ) -> tuple[_core.Source, np.ndarray | None, Any]:
        """The library's data source for X, the dense data kept for plotting (or
        None), and what a pickle needs to rebuild a source that model bytes do
        not store (the precomputed matrix or the callable's items; else None)."""
        if isinstance(X, _core.Source):
            return _plugin_source(X, self.metric), None, None
        if callable(metric):
            items = _as_item_list(X)
            return _callable_source(items, metric), None, items
        if metric != "precomputed" and _is_arrow(X):
            if p_metric:
                raise NotImplementedError(
                    "metric_params with Arrow input: pass the vectors as a numpy array "
                    "(Arrow columns take the metric's defaults only)"
                )
            return _core.arrow_source(X, _DENSE_METRICS.get(metric, metric), vocabulary), None, None
        if _is_sparse(X):
            return self._sparse_source(X, metric, p_metric)
        if metric == "levenshtein":
            return _core.StringSource(_as_strings(X)), None, None
        if metric == "jaccard":
            return vocabulary.source(_as_strings(X, metric)), None, None
        X = _validate_dense(self, X, reset=True)
        if metric == "precomputed":
            D = _precomputed_float32(X)
            return _core.PrecomputedSource(D), None, D
        return _dense_source(_dense_float32(X), _DENSE_METRICS[metric], p_metric), X, None

    def _sparse_source(
        self, X: Any, metric: str | Callable[[Any, Any], float], p_metric: dict[str, Any] | None
    ) -> tuple[_core.Source, None, Any]:
        """_make_source for a scipy.sparse X: a feature matrix under a sparse metric, or a sparse
        distance matrix under "precomputed" (missing entries: infinite distance, no edge)."""
        for name in ("n_features_in_", "feature_names_in_"):
            self.__dict__.pop(name, None)
        if metric == "precomputed":
            D = _sparse_precomputed(X)
            self.n_features_in_ = D[3]
            return _core.SparsePrecomputedSource(*D[:3]), None, D
        if not isinstance(metric, str) or metric not in _SPARSE_METRICS:
            raise ValueError(
                f"metric={metric!r} is not available for sparse X (expected {', '.join(_SPARSE_METRICS)}, or "
                "'precomputed' for a sparse distance matrix); pass X.toarray() for the other metrics"
            )
        if p_metric:
            raise ValueError(f"metric_params: {metric} takes no parameters (got {', '.join(p_metric)})")
        indptr, indices, data, shape = _sparse_csr(X)
        self.n_features_in_ = shape[1]
        return _core.sparse_source(indptr, indices, data, shape[1], _SPARSE_METRICS[metric]), None, None

    def _model_source(self, X: Any, extend: bool) -> _core.Source:
        """A source of X's items of the model's kind and metric, to add (extend:
        new tokens join the vocabulary) or to predict."""
        model = self._model
        kind, metric = model.source_kind, model.metric
        if _is_arrow(X):
            return _core.arrow_source(X, metric, self._vocabulary, extend)
        if kind == "strings":
            return _core.StringSource(_as_strings(X))
        if kind == "token_sets":
            return self._vocabulary.source(_as_strings(X, "jaccard"), extend)
        if kind == "sparse":
            if not _is_sparse(X):  # dense rows for a sparse model
                import scipy.sparse

                X = scipy.sparse.csr_array(_dense_float32(_validate_dense(self, X, reset=False)))
            indptr, indices, data, shape = _sparse_csr(X)
            if shape[1] != model.dim:
                raise ValueError(
                    f"X has {shape[1]} features, but {type(self).__name__} is expecting {model.dim} features as input"
                )
            return _core.sparse_source(indptr, indices, data, shape[1], metric)
        if _is_sparse(X):  # sparse rows for a dense model
            X = X.toarray()
        X = _select_columns(X, self.columns, fitted_names=self.__dict__.get("feature_names_in_"))
        X = _validate_dense(self, X, reset=False)
        return _dense_source(_dense_float32(X), metric, like=model)

    def _cluster_model(self, p: dict[str, Any], always: bool = False) -> None:
        """Extracts the model's clusters with the selection parameters `p`; with fewer items
        than min_cluster_size, with the largest it takes and all noise (_set_fitted)."""
        n = len(self._model)
        sel = {name: p[name] for name in _SELECTION}
        too_few = sel["min_cluster_size"] > n
        if too_few:
            sel["min_cluster_size"] = n
        if too_few != bool(self.__dict__.get("_too_few")):
            always = True
        self.__dict__.pop("_too_few", None)
        if too_few:
            self._too_few = True
        if always or self._model_selection() != tuple(sel[name] for name in _SELECTION):
            self._model.cluster(**sel)

    def _check_can_grow(self, method: str) -> None:
        model = self._model
        kind = model.source_kind
        if not model.can_grow or kind not in _VECTOR_KINDS + ("strings", "token_sets"):
            what = {
                "precomputed": "metric='precomputed' (a distance matrix has no distances to new items)",
                "sparse_precomputed": "metric='precomputed' (a distance matrix has no distances to new items)",
                "callable": "a callable metric (only built-in metrics measure new items)",
                "plugin": f"a plugin source ('{model.metric}'; plugins cannot add or measure new items)",
            }.get(kind, f"a '{model.metric}' source")
            raise NotImplementedError(
                f"{method}: not available for models fitted with {what}; fit again on all the items instead"
            )
        if kind == "token_sets" and self._vocabulary is None:
            raise NotImplementedError(
                f"{method}: this metric='jaccard' model was loaded from a model file that stores token ids but "
                "not the tokens (written before model format version 4); new strings cannot be encoded "
                "(fit again)"
            )

    def _check_build_unchanged(self, p: dict[str, Any]) -> None:
        fitted = self._model.parameters
        # min_samples=None means min_cluster_size at fit time: the model keeps that k.
        changed = [
            f"{name}={p[name]!r} (fitted with {fitted[name]!r})"
            for name in _BUILD
            if p[name] != fitted[name] and not (name == "min_samples" and p[name] is None)
        ]
        metric = p["metric"]
        name = _DENSE_METRICS.get(metric, metric) if isinstance(metric, str) else metric
        if name != self._model.metric:
            changed.append(f"metric={self.metric!r} (fitted with {self._model.metric!r})")
        if changed:
            raise ValueError(
                f"partial_fit: {', '.join(changed)}: these parameters fix the graph and the spanning tree and "
                "cannot change between partial_fit calls; call fit to rebuild"
            )

    def _model_selection(self) -> tuple[Any, ...]:
        fitted = self._model.parameters
        return tuple(fitted[name] for name in _SELECTION)

    @property
    def _mst_data(self) -> Any:
        mst = self.__dict__.get("minimum_spanning_tree_")
        return None if mst is None else mst._data

    def _refresh(self, data: Any = None) -> None:
        """Sets every fitted attribute from the model. `data`: the vectors for
        minimum_spanning_tree_.plot(), else the model's own rows when dense."""
        model = self._model
        if data is None and model.source_kind in ("dense", "products"):
            data = _ModelRows(model, len(model))
        self._set_fitted(model.result(), data, len(model))
        self.device_ = model.device
        self.__dict__.pop("_prediction_data", None)
        if getattr(self, "prediction_data", False):
            self.generate_prediction_data()
        _soft.store_centers(self, getattr(self, "store_centers", None))
        self.candidates_ = model.candidates

    @classmethod
    def _from_model(
        cls, model: Any, metric: Any = None, source_input: Any = None, device: str = "auto"
    ) -> FISHDBC:
        """A fitted estimator around a loaded model, its parameters the model's."""
        p = model.parameters
        kind = model.source_kind
        if kind in ("precomputed", "sparse_precomputed"):
            metric = "precomputed"
        elif kind != "callable":
            metric = model.metric
        est = cls(
            min_cluster_size=int(p["min_cluster_size"]),
            # model files hold the effective k; None says the same when k == min_cluster_size
            min_samples=None if p["min_samples"] in (None, p["min_cluster_size"]) else int(p["min_samples"]),
            metric=metric,
            cluster_selection_method=p["cluster_selection_method"],
            cluster_selection_epsilon=float(p["cluster_selection_epsilon"]),
            allow_single_cluster=bool(p["allow_single_cluster"]),
            max_cluster_size=int(p["max_cluster_size"]),
            cluster_selection_persistence=float(p["cluster_selection_persistence"]),
            cluster_selection_epsilon_max=float(p["cluster_selection_epsilon_max"]),
            candidates=p["candidates"],
            m=int(p["m"]),
            ef_construction=int(p["ef_construction"]),
            random_state=None if int(p["seed"]) == _DEFAULT_SEED else int(p["seed"]),
            n_jobs=None,  # model files do not store a thread count
            device=device,  # nor a device: the model runs where it is loaded
            metric_params=_model_metric_params(model) or None,
        )
        model.set_threads(_threads(None))
        est._model = model
        # A jaccard model file keeps its token vocabulary since format version 4.
        tokens = model.token_vocabulary if kind == "token_sets" else []
        est._vocabulary = _core.TokenVocabulary(list(tokens)) if tokens else None
        est._source_input = source_input
        if kind in _VECTOR_KINDS:
            est.n_features_in_ = int(model.dim)
        elif kind in ("precomputed", "sparse_precomputed"):
            est.n_features_in_ = len(model)
        est._refresh()
        return est

    def _set_fitted(self, r: dict[str, Any], data: Any, n: int) -> None:
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
        if self.__dict__.get("_too_few"):
            # Fewer items than min_cluster_size: no cluster (hdbscan and scikit-learn give all noise).
            self.labels_ = np.full(n, -1, dtype=np.intp)
            self.probabilities_ = np.zeros(n)
            self.cluster_persistence_ = np.zeros(0)
        index = self.__dict__.get("_finite_index")
        if index is not None:
            # non_finite="label" / "noise": rows with NaN or inf were left out of the model; they get
            # scikit-learn's encodings (-3 missing, -2 infinite; probability NaN / 0) or noise (-1, 0).
            n_raw = self._n_raw + (n - len(index))  # rows added by partial_fit follow the fitted ones
            index = np.concatenate([index, np.arange(self._n_raw, n_raw)]) if n > len(index) else index
            rest = np.setdiff1d(np.arange(n_raw), index)
            codes = self._non_finite_labels
            labels = np.full(n_raw, -1, dtype=np.intp)
            labels[index] = self.labels_
            probabilities = np.zeros(n_raw)
            probabilities[index] = self.probabilities_
            if codes is not None:
                labels[rest] = codes
                probabilities[rest[codes == -3]] = np.nan
            outliers = np.full(n_raw, np.nan)
            outliers[index] = self.outlier_scores_
            core = np.full(n_raw, np.inf)
            core[index] = self.core_distances_
            self.labels_, self.probabilities_, self.outlier_scores_, self.core_distances_ = (
                labels,
                probabilities,
                outliers,
                core,
            )


# ------------------------------------------------- module-level functions
def load(
    path: str | os.PathLike[str],
    X: Any = None,
    *,
    metric: Callable[[Any, Any], float] | str | None = None,
    device: str = "auto",
) -> FISHDBC:
    """Load a model file written by :meth:`FISHDBC.save` as a fitted :class:`FISHDBC`.

    The estimator's parameters are the model's; its fitted attributes are
    identical to those of the saved estimator (``fit_stats_`` is zero and
    ``feature_names_in_`` is not restored). It can :meth:`~FISHDBC.partial_fit`,
    :meth:`~FISHDBC.recluster` and :meth:`~FISHDBC.approximate_predict`.

    Parameters
    ----------
    path : str or path-like
    X : None, or the data the file does not store, which must be the data
        the model was fitted on (checked by a fingerprint): the square
        distance matrix of a ``metric="precomputed"`` model, the items of a
        callable-metric model (with ``metric``), or the plugin source of a
        plugin model (:func:`chutoro.load_plugin`). None for every other model.
    metric : callable, "precomputed" or None
        The metric function of a callable-metric model (keyword only).
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the loaded model runs (keyword only; the file stores no
        device): loading rebuilds the spanning tree of an hnsw model there,
        and it becomes the estimator's ``device`` parameter.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    OSError
        The file cannot be read.
    ValueError
        A truncated or corrupted file (checksum), another format version or
        byte order (naming the file and section); X missing for a model that
        needs it, given for one that does not, or not the fitted data.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, f"chutoro model file not found: {path}", path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"chutoro model file is a directory: {path}", path)
    source = source_input = None
    if X is None:
        if metric is not None:
            raise ValueError("load: metric is only needed with X (the items of a callable-metric model)")
    elif isinstance(X, _core.Source):
        source = X
    elif callable(metric):
        source_input = _as_item_list(X)
        source = _callable_source(source_input, metric)
    elif (metric is None or metric == "precomputed") and _is_sparse(X):
        source_input = _sparse_precomputed(X)
        source = _core.SparsePrecomputedSource(*source_input[:3])
    elif metric is None or metric == "precomputed":
        D = check_array(X, dtype=[np.float32, np.float64], order="C", ensure_all_finite=False)
        source_input = _precomputed_float32(D)
        source = _core.PrecomputedSource(source_input)
    else:
        raise ValueError(
            f"load: metric must be a callable (with X the items of a callable-metric model), 'precomputed' or None "
            f"(got {metric!r})"
        )
    device = _choice("device", device, _DEVICES)
    model = _core.Model.load(path, source, device=device)
    kind = model.source_kind
    if source is None and kind in _NOT_STORED:  # the library checks this too
        raise ValueError(f"load: {path} holds a {kind} model, whose data the file does not store: pass {_NOT_STORED[kind]}")
    return FISHDBC._from_model(model, metric=metric, source_input=source_input, device=device)


def approximate_predict(clusterer: FISHDBC, points_to_predict: Any) -> tuple[np.ndarray, np.ndarray]:
    """Predict the cluster labels of new points: hdbscan.prediction.approximate_predict
    for a fitted :class:`FISHDBC` (see :meth:`FISHDBC.approximate_predict`).

    Returns
    -------
    labels : ndarray of shape (n_new,), int32
        Labels of ``clusterer.labels_`` (-1 for noise).
    probabilities : ndarray of shape (n_new,), float64
    """
    if not isinstance(clusterer, FISHDBC):
        raise TypeError(f"approximate_predict: clusterer must be a chutoro.FISHDBC (got {type(clusterer).__name__})")
    return clusterer.approximate_predict(points_to_predict)


# ---------------------------------------------------------------- helpers
class _ModelRows:
    """A model's first n dense rows for MinimumSpanningTree.plot(), copied when
    needed (a pickle holds the copy)."""

    def __init__(self, model: Any, n: int) -> None:
        self._model = model
        self._n = n

    def __call__(self) -> np.ndarray:
        return np.asarray(self._model.dense_data())[: self._n]

    def __reduce__(self) -> Any:
        return (np.array, (self(),))


def _int_param(label: str, value: Any, lo: int, hi: int | None = None, name: str | None = None) -> int:
    name = name or label
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int (got {type(value).__name__} {value!r})")
    v = int(value)
    if v < lo or (hi is not None and v > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(f"{label} must be {rng} (got {v})")
    return v


def _threads(n_jobs: int | None) -> int:
    """The library's thread count for ``n_jobs``: None -> 0, the OpenMP
    default of the calling thread (all cores unless OMP_NUM_THREADS or a
    threadpoolctl limit lowers it, as scikit-learn's OpenMP estimators
    read it); otherwise joblib's convention (-1 all cores, -2 all but one)."""
    return 0 if n_jobs is None else int(effective_n_jobs(n_jobs))


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


def _validate_dense(est: FISHDBC, X: Any, reset: bool) -> np.ndarray:
    """scikit-learn's validate_data for vectors (float32/float64, C order, at least
    one row; NaN/inf are left to the library, which names the row and column).
    Its errors keep their type and text, prefixed with "X: " where they do not
    say what was wrong (numpy's "could not convert string to float: 'a'")."""
    try:
        return validate_data(
            est,
            X,
            reset=reset,
            dtype=[np.float32, np.float64],
            order="C",
            ensure_all_finite=False,
            ensure_min_samples=1,
        )
    except (ValueError, TypeError) as e:
        msg = str(e)
        if msg.startswith("X") or re.search(r"\bX\b|\barray\b|samples?\b|features?\b", msg.split("\n")[0]):
            raise
        raise type(e)(f"X: {msg}") from e


def metrics() -> list[dict[str, str]]:
    """The built-in metrics, from the library's one metric table (the CLI's
    ``--metric`` and C++'s parsers read the same list), in help order.

    Returns
    -------
    list of dict
        One dict per metric: ``name``, ``items`` (``"vectors"`` or
        ``"strings"``), ``params`` (the ``metric_params`` key it takes:
        ``""``, ``"p"``, ``"V"`` or ``"VI"``), ``summary`` (the formula),
        ``sparse`` (whether scipy.sparse feature matrices take it) and
        ``aliases`` (other accepted names, e.g. ``["l1", "cityblock"]``).
    """
    out = []
    for m in _core.builtin_metrics():
        m = dict(m)
        m["aliases"] = [a for a, n in _METRIC_ALIASES.items() if n == m["name"]]
        out.append(m)
    return out


_ALGORITHMS = (
    "auto",  # scikit-learn
    "best",  # hdbscan
    "brute",
    "kd_tree",
    "ball_tree",
    "kdtree",
    "balltree",
    "generic",
    "prims_kdtree",
    "prims_balltree",
    "boruvka_kdtree",
    "boruvka_balltree",
)


def _check_compat_params(est: FISHDBC) -> None:
    """The constructor arguments hdbscan and scikit-learn users pass where chutoro has
    nothing to choose: validated with the exception types those libraries raise, and
    without any effect on the result (docs/python.md, "Coming from hdbscan / scikit-learn")."""
    _choice("algorithm", est.algorithm, _ALGORITHMS)
    leaf = est.leaf_size
    if isinstance(leaf, bool) or not isinstance(leaf, numbers.Integral):
        raise TypeError(f"leaf_size must be an int (got {type(leaf).__name__})")
    if leaf < 1:
        raise ValueError(f"leaf_size must be >= 1 (got {leaf})")
    for name in ("copy", "gen_min_span_tree", "approx_min_span_tree", "match_reference_implementation"):
        v = getattr(est, name)
        if not isinstance(v, (bool, np.bool_)) and not (name == "copy" and v == "warn"):
            raise TypeError(f"{name} must be a bool (got {type(v).__name__})")
    if est.match_reference_implementation:
        raise NotImplementedError(
            "match_reference_implementation=True: chutoro follows scikit-learn's min_samples convention "
            "instead; hdbscan's reference mode (min_samples k - 1, min_cluster_size + 1) is "
            "FISHDBC(min_samples=k, min_cluster_size=c + 1) with candidates='exact'"
        )
    mem = est.memory
    if mem is not None and not isinstance(mem, (str, os.PathLike)) and not hasattr(mem, "cache"):
        raise TypeError(f"memory must be None, a str or a joblib.Memory (got {type(mem).__name__})")
    cj = est.core_dist_n_jobs
    if cj is not None and (isinstance(cj, bool) or not isinstance(cj, numbers.Integral)):
        raise TypeError(f"core_dist_n_jobs must be an int or None (got {type(cj).__name__})")
    a = est.alpha
    if isinstance(a, bool) or not isinstance(a, numbers.Real):
        raise TypeError(f"alpha must be a number (got {type(a).__name__})")
    if not (math.isfinite(float(a)) and float(a) > 0):
        raise ValueError(f"alpha must be a finite number > 0 (got {a})")
    if float(a) != 1.0:
        raise NotImplementedError(
            f"alpha={a}: chutoro's mutual reachability does not scale distances (alpha=1.0, both libraries' "
            "default); divide X (or the metric) by alpha instead for the same ordering of distances"
        )


def _is_vector_metric(metric: Any) -> bool:
    return isinstance(metric, str) and metric in _DENSE_METRICS


def _is_dataframe(X: Any) -> bool:
    return hasattr(X, "columns") and hasattr(X, "dtypes") and hasattr(X, "iloc")


def _select_columns(X: Any, columns: Any, fitted_names: Any) -> Any:
    """A pandas DataFrame's feature columns: `columns` (a list of names, or
    "numeric" for every numeric column), else the fitted feature names (predict),
    else all of them when all are numeric; other inputs pass through."""
    if not _is_dataframe(X):
        if columns is not None and not isinstance(columns, str):
            raise TypeError("columns= selects columns of a pandas DataFrame; X is not one")
        return X
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    def numeric(name: Any) -> bool:
        dt = X[name].dtype
        return is_numeric_dtype(dt) or is_bool_dtype(dt)

    if fitted_names is not None and columns is None or isinstance(columns, str) and fitted_names is not None:
        missing = [c for c in fitted_names if c not in X.columns]
        if missing:
            raise ValueError(f"X: the DataFrame lacks the fitted columns {missing}")
        return X[list(fitted_names)]
    if isinstance(columns, str):
        if columns != "numeric":
            raise ValueError(f"columns must be a list of column names or 'numeric' (got {columns!r})")
        keep = [c for c in X.columns if numeric(c)]
        if not keep:
            raise ValueError("X: the DataFrame has no numeric column")
        return X[keep]
    if columns is not None:
        names = list(columns)
        missing = [c for c in names if c not in X.columns]
        if missing:
            raise ValueError(f"columns: {missing} are not columns of X (it has {list(X.columns)})")
        bad = [f"{c!r} ({X[c].dtype})" for c in names if not numeric(c)]
        if bad:
            raise ValueError(f"columns: {', '.join(bad)} are not numeric")
        return X[names]
    bad = [f"{c!r} ({X[c].dtype})" for c in X.columns if not numeric(c)]
    if bad:
        raise ValueError(
            f"X: DataFrame column{'s' if len(bad) > 1 else ''} {', '.join(bad)} "
            f"{'are' if len(bad) > 1 else 'is'} not numeric; pass columns=[...] to choose the feature "
            "columns, or columns='numeric' to use every numeric column"
        )
    return X


def _model_metric_params(model: Any) -> dict[str, Any]:
    """A fitted model's metric parameters as metric_params (VI as a square array)."""
    params = dict(model.metric_params)
    if "VI" in params:
        vi = np.asarray(params["VI"])
        d = int(round(math.sqrt(vi.size)))
        params["VI"] = vi.reshape(d, d)
    elif "V" in params:
        params["V"] = np.asarray(params["V"])
    return params


def _metric_params(metric: Any, metric_params: Any, p: Any) -> dict[str, Any]:
    """metric_params (and hdbscan's p) checked against the metric's row of the metric
    table: {"p": float} | {"V": list} | {"VI": list (row-major)} | {}."""
    if metric_params is None:
        metric_params = {}
    if not isinstance(metric_params, dict):
        raise TypeError(f"metric_params must be a dict or None (got {type(metric_params).__name__})")
    params = dict(metric_params)
    if p is not None:
        if "p" in params and params["p"] != p:
            raise ValueError(f"p={p!r} and metric_params['p']={params['p']!r} disagree; give one")
        params["p"] = p
    if not params:
        return {}
    name = _DENSE_METRICS.get(metric) if isinstance(metric, str) else None
    takes = _METRIC_TABLE[name]["params"] if name else ""
    for key in params:
        if not isinstance(key, str) or key != takes:
            what = f"metric={metric!r}" if isinstance(metric, str) else "a callable metric"
            expected = f"only {takes!r}" if takes else "none"
            raise ValueError(f"metric_params: {what} does not take {key!r} (it takes {expected})")
    out: dict[str, Any] = {}
    if "p" in params:
        v = params["p"]
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"metric_params['p'] must be a number (got {type(v).__name__})")
        if not (math.isfinite(float(v)) and float(v) > 0):
            raise ValueError(f"metric_params['p'] must be a finite number > 0 (got {v}; p=inf is 'chebyshev')")
        out["p"] = float(v)
    for key, ndim in (("V", 1), ("VI", 2)):
        if key in params:
            try:
                a = np.asarray(params[key], dtype=np.float64)
            except (TypeError, ValueError) as e:
                raise TypeError(f"metric_params[{key!r}] must be an array of numbers ({e})") from None
            if a.ndim != ndim or (ndim == 2 and a.shape[0] != a.shape[1]):
                shape = "1-D (one variance per feature)" if ndim == 1 else "a square 2-D (n_features, n_features)"
                raise ValueError(f"metric_params[{key!r}] must be {shape} array (got shape {a.shape})")
            out[key] = a.ravel().tolist()
    return out


def _dense_source(X: np.ndarray, metric: str, params: dict[str, Any] | None = None, like: Any = None) -> Any:
    """The library's source for a float32 C-order array under a vector metric of the
    one metric table (with its metric_params), or of a fitted model's kind, metric and
    parameters (`like`); its errors (a NaN or infinite value, an all-zero row for
    cosine) name X, row and column."""
    try:
        if like is not None:
            return like.vector_source_like(X)
        return _core.vector_source(X, metric, **(params or {}))
    except ValueError as e:
        msg = str(e)
        prefix = "dense_source: "
        raise ValueError(f"X: {msg[len(prefix):] if msg.startswith(prefix) else msg}") from None


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


def _is_sparse(X: Any) -> bool:
    """Whether X is a scipy.sparse matrix or array (scipy is not imported for it)."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and bool(sparse.issparse(X))


def _sparse_csr(X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """int64 indptr, int64 indices, float32 data and the shape of scipy.sparse X as CSR
    (CSC and the other formats through .tocsr(); duplicate entries summed, as scipy
    densifies them). Values outside float32's range become infinite, which the library
    refuses naming the row and column."""
    if X.ndim != 2:
        raise ValueError(f"X: expected a 2-D sparse matrix (got {X.ndim}-D)")
    X = X.tocsr()
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()  # also sorts each row's columns
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise TypeError(f"X: sparse values must be real numbers (got dtype {X.dtype})")
    with np.errstate(over="ignore"):
        data = np.ascontiguousarray(X.data, dtype=np.float32)
    indptr = np.ascontiguousarray(X.indptr, dtype=np.int64)
    indices = np.ascontiguousarray(X.indices, dtype=np.int64)
    return indptr, indices, data, (int(X.shape[0]), int(X.shape[1]))


def _sparse_precomputed(X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(indptr, indices, data, n) of a sparse (n, n) distance matrix: square, stored
    entries finite, >= 0 and symmetric (stored alike on both sides); missing entries are
    infinite distances (no edge), as hdbscan reads sparse precomputed input."""
    n, m = X.shape
    if n != m:
        raise ValueError(f"precomputed distances: X must be a square (n, n) sparse matrix (got {n} x {m})")
    indptr, indices, data, _ = _sparse_csr(X)
    bad = np.flatnonzero(~np.isfinite(data) | (data < 0))
    if len(bad):
        k = int(bad[0])
        i = int(np.searchsorted(indptr, k, side="right") - 1)
        raise ValueError(
            f"precomputed distances: X[{i}, {int(indices[k])}] = {float(data[k])!r}; stored distances must be finite "
            "and >= 0 (leave an entry out for an infinite distance)"
        )
    import scipy.sparse

    C = scipy.sparse.csr_array((data, indices, indptr), shape=(n, n))
    diff = (C != C.T).tocoo()
    if diff.nnz:
        i, j = int(diff.row[0]), int(diff.col[0])
        raise ValueError(
            f"precomputed distances: X is not symmetric: X[{i}, {j}] = {C[i, j]!r} but X[{j}, {i}] = {C[j, i]!r} "
            "(a missing entry is an infinite distance)"
        )
    return indptr, indices, data, n


def _sparse_precomputed_candidates(candidates: str) -> str:
    """Sparse distance matrices are measured over all pairs (missing pairs are infinite):
    'auto' is 'exact'; 'hnsw' cannot search a graph whose distances are mostly infinite."""
    if candidates == "hnsw":
        raise ValueError(
            "candidates='hnsw' with a sparse precomputed distance matrix: HNSW cannot search distances that are "
            "mostly infinite; use candidates='auto' or 'exact' (all pairs; the stored entries are the edges)"
        )
    return "exact"


def _check_sparse_graph(D: tuple[np.ndarray, np.ndarray, np.ndarray, int], k: int) -> None:
    """hdbscan's two checks on sparse precomputed input: one connected component, and every
    item with at least k - 1 stored neighbours (chutoro's min_samples k counts the item
    itself), so every core distance, and so the spanning tree, is finite."""
    import scipy.sparse
    from scipy.sparse.csgraph import connected_components

    indptr, indices, data, n = D
    C = scipy.sparse.csr_array((np.ones_like(data), indices, indptr), shape=(n, n))
    count, _ = connected_components(C, directed=False)
    if count > 1:
        raise ValueError(
            f"precomputed distances: the sparse distance matrix has {count} connected components (groups of items "
            "with no stored distance between them); cluster each component on its own"
        )
    rows = np.repeat(np.arange(n), np.diff(indptr))
    neighbours = np.bincount(rows[indices != rows], minlength=n)
    few = np.flatnonzero(neighbours < k - 1)
    if len(few):
        i = int(few[0])
        raise ValueError(
            f"precomputed distances: item {i} has {int(neighbours[i])} stored distances to other items, fewer than "
            f"min_samples - 1 = {k - 1} ({len(few)} items have too few): its core distance would be infinite; "
            "store at least min_samples - 1 neighbours per item (a k-NN graph) or lower min_samples"
        )


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
        raise TypeError(f"X is a single {type(X).__name__}; metric='{metric}' needs a sequence of str")
    if isinstance(X, np.ndarray):
        if X.ndim != 1:
            raise ValueError(f"metric='{metric}' needs a 1-D sequence of str (got an array of shape {X.shape})")
        X = X.tolist()
    try:
        items = list(X)
    except TypeError:
        raise TypeError(f"X must be a sequence of str for metric='{metric}' (got {type(X).__name__})") from None
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


def _callable_source(items: list[Any], metric: Callable[[Any, Any], float]) -> _core.CallableSource:
    """The source of a callable metric; a chutoro.vectorized one also measures in batches."""
    if isinstance(metric, vectorized):
        return _core.CallableSource(items, metric, metric.batcher(stack_rows(items, metric)))
    return _core.CallableSource(items, metric)


def _as_item_list(X: Any) -> list[Any]:
    if isinstance(X, (str, bytes)):
        raise TypeError(f"X is a single {type(X).__name__}; a callable metric needs a sequence of items")
    try:
        items = list(X)
    except TypeError:
        raise TypeError(f"X must be a sequence of items for a callable metric (got {type(X).__name__})") from None
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
