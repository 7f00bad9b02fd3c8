"""Soft clustering, exemplars, cluster centres and validity for a fitted
:class:`chutoro.FISHDBC`, with the names, signatures and semantics of
hdbscan's ``prediction`` and ``validity`` modules and scikit-learn's
``HDBSCAN(store_centers=...)``.

- Soft clustering (Campello et al. 2015, section 5.2; McInnes, hdbscan docs
  "Soft clustering for HDBSCAN*"): :func:`membership_vector`,
  :func:`all_points_membership_vectors`, :func:`approximate_predict_scores`,
  computed by the library (``chutoro::model``) from the condensed tree and the
  exemplars, as hdbscan computes them.
- DBCV (Moulavi et al. 2014, "Density-Based Clustering Validation"):
  :func:`validity_index` (hdbscan.validity.validity_index) and the fast
  MST-based approximation ``relative_validity_``.

hdbscan's own functions (``hdbscan.approximate_predict``,
``hdbscan.membership_vector``, ...) cannot take a chutoro estimator: they read
hdbscan's private attributes (``condensed_tree_._raw_tree``,
``condensed_tree_._select_clusters()``), query a scikit-learn KD/ball tree,
pass ``prediction_data_.dist_metric`` to Cython code typed for hdbscan's own
compiled ``DistanceMetric`` class, and read ``clusterer.min_samples`` in
hdbscan's convention (chutoro's k is hdbscan's k + 1), so any object chutoro
could expose would either copy hdbscan's internals or give other answers.
The functions here are drop-in replacements: same names, same arguments.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "PredictionData",
    "all_points_membership_vectors",
    "approximate_predict_scores",
    "membership_vector",
    "validity_index",
]


class PredictionData:
    """What a fitted :class:`chutoro.FISHDBC` keeps for prediction
    (``prediction_data_``, after ``prediction_data=True`` or
    :meth:`FISHDBC.generate_prediction_data`). The model can always predict;
    this object only exposes the exemplars in hdbscan's layout.

    Attributes
    ----------
    exemplars : list of ndarray
        Per cluster label, the exemplar items (rows for vector data, else the
        items), as ``hdbscan.prediction.PredictionData.exemplars``.
    exemplar_indices : list of ndarray of int64
        Per cluster label, the exemplars' indices into the fitted data.
    core_distances : ndarray of shape (n_samples,), float64
    """

    def __init__(self, est: Any) -> None:
        self.exemplar_indices = [np.asarray(ids, dtype=np.int64) for ids in est._model.exemplars()]
        self.exemplars = [_items(est, ids) for ids in self.exemplar_indices]
        self.core_distances = est.core_distances_


def _items(est: Any, ids: np.ndarray) -> Any:
    rows = _rows(est)
    if rows is not None:
        return rows[ids]
    data = est._source_input
    if data is not None and est._model.source_kind == "callable":
        return [data[int(i)] for i in ids]
    return ids  # items the library keeps without a Python form (strings, token sets, plugins)


def _rows(est: Any) -> np.ndarray | None:
    """The fitted vectors as given (float64 where X was), else None."""
    data = est._mst_data
    if data is None:
        return None
    if callable(data):
        data = data()
    return np.asarray(data)


def _fitted(clusterer: Any, what: str) -> Any:
    from chutoro._estimator import FISHDBC

    if not isinstance(clusterer, FISHDBC):
        raise TypeError(f"{what}: clusterer must be a fitted chutoro.FISHDBC (got {type(clusterer).__name__})")
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(clusterer)
    return clusterer


def membership_vector(clusterer: Any, points_to_predict: Any) -> np.ndarray:
    """Soft cluster membership of new points (hdbscan.prediction.membership_vector).

    For each point and each selected cluster: a distance part (the inverse
    distance to the cluster's nearest exemplar, normalised) to the power 1/2
    times an outlier part (a softmax over the clusters of how high the point
    merges with each in the condensed tree) squared, normalised, then scaled
    by the probability that the point is in any cluster. The point joins the
    tree through its nearest model item under mutual reachability, as in
    :func:`chutoro.approximate_predict`.

    Parameters
    ----------
    clusterer : FISHDBC
        A fitted estimator (built-in vector or string metric).
    points_to_predict : items of the fitted kind, n_new of them

    Returns
    -------
    membership_vectors : ndarray of shape (n_new, n_clusters), float64
        Rows sum to the probability of being in some cluster (<= 1).

    Raises
    ------
    NotImplementedError
        For precomputed, callable and plugin models (no distances to new items).
    """
    est = _fitted(clusterer, "membership_vector")
    return np.asarray(est._predict_soft(points_to_predict, True)["membership"])


def approximate_predict_scores(clusterer: Any, points_to_predict: Any) -> np.ndarray:
    """GLOSH outlier scores of new points (hdbscan.prediction.approximate_predict_scores):
    (lambda_max - lambda) / lambda_max, with lambda the point's density where
    it joins the condensed tree and lambda_max the largest density below the
    cluster it joins. Shape (n_new,), float64; may be negative for points
    denser than their cluster; all 1 when the tree has no cluster."""
    est = _fitted(clusterer, "approximate_predict_scores")
    return np.asarray(est._predict_soft(points_to_predict, False)["outlier_scores"])


def all_points_membership_vectors(clusterer: Any) -> np.ndarray:
    """Soft cluster membership of the fitted items
    (hdbscan.prediction.all_points_membership_vectors): the distance part
    times the outlier part exp(-lambda_max / merge height) softmaxed,
    normalised and scaled by the probability of being in some cluster.

    Returns
    -------
    ndarray of shape (n_samples, n_clusters), float64
        (n_samples, 0) when there is no cluster (hdbscan returns zeros of
        shape (n_samples,) there).
    """
    est = _fitted(clusterer, "all_points_membership_vectors")
    est._model.set_threads(int(est._check_params(check_metric=False)["threads"]))
    return np.asarray(est._model.all_points_membership_vectors())


# ------------------------------------------------------------------ DBCV
def _pairwise(X: np.ndarray, Y: np.ndarray | None, metric: str, kwds: dict[str, Any]) -> np.ndarray:
    from sklearn.metrics import pairwise_distances

    return pairwise_distances(X, Y, metric=metric, **kwds)


def _all_points_core_distance(distances: np.ndarray, d: float) -> np.ndarray:
    """Moulavi et al. 2014, definition 1: (sum over the other points of
    (1/distance)^d / (m - 1))^(-1/d); zero distances are left out."""
    inv = distances.copy()
    nonzero = inv != 0
    inv[nonzero] = (1.0 / inv[nonzero]) ** d
    result = inv.sum(axis=1)
    result /= distances.shape[0] - 1
    if result.sum() == 0:
        return np.zeros(len(distances))
    return result ** (-1.0 / d)


def _prim(weights: np.ndarray) -> np.ndarray:
    """Prim's algorithm from item 0 on a dense symmetric matrix, as hdbscan's
    mst_linkage_core: rows (previous item, new item, weight)."""
    m = weights.shape[0]
    out = np.zeros((m - 1, 3))
    labels = np.arange(m)
    best = np.full(m, np.inf)
    current = 0
    for i in range(1, m):
        keep = labels != current
        labels = labels[keep]
        best = np.minimum(best[keep], weights[current][labels])
        j = int(np.argmin(best))
        out[i - 1] = (current, labels[j], best[j])
        current = int(labels[j])
    return out


def _internal_mst(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The minimum spanning tree of one cluster and its internal vertices
    (degree > 1) and edges (both ends internal), as hdbscan's
    internal_minimum_spanning_tree: each edge's tree end is the smallest
    earlier item at that weight (numpy.isclose)."""
    raw = _prim(weights)
    tree = raw.copy()
    for index in range(1, len(tree)):
        new = int(tree[index, 1])
        candidates = np.flatnonzero(np.isclose(weights[new], tree[index, 2]))
        candidates = np.intersect1d(candidates, raw[:index, :2].astype(int))
        candidates = candidates[candidates != new]
        tree[index, 0] = candidates[0]
    degree = np.bincount(tree[:, :2].ravel().astype(np.intp), minlength=weights.shape[0])
    vertices = np.flatnonzero(degree > 1)
    if len(vertices) == 0:
        vertices = np.array([0])
    both = np.isin(tree[:, :2], vertices).all(axis=1)
    edges = tree[both] if both.any() else tree
    return vertices, edges


def validity_index(
    X: Any,
    labels: Any,
    metric: str = "euclidean",
    d: int | None = None,
    per_cluster_scores: bool = False,
    mst_raw_dist: bool = False,
    verbose: bool = False,
    **kwd_args: Any,
) -> float | tuple[float, np.ndarray]:
    """Density-Based Clustering Validation (DBCV; Moulavi, Jaskowiak,
    Campello, Zimek & Sander 2014, SDM), computed as hdbscan.validity.validity_index.

    Per cluster: all-points core distances (definition 1, with exponent d),
    the minimum spanning tree of the cluster under mutual reachability, its
    density sparseness (the largest internal edge) and its density separation
    from each other cluster (the smallest mutual-reachability distance
    between internal vertices); a cluster's validity is (separation -
    sparseness) / max(separation, sparseness), and the index is their mean
    weighted by cluster size / n (noise counts in n). O(n^2) distances.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), or (n_samples, n_samples) for metric="precomputed"
    labels : ndarray of shape (n_samples,), int; -1 is noise
    metric : str, default="euclidean"
        Any metric of sklearn.metrics.pairwise_distances, or "precomputed".
    d : int, optional
        The dimension used as exponent; required for metric="precomputed",
        else X.shape[1].
    per_cluster_scores : bool, default=False
        Also return each cluster's validity.
    mst_raw_dist : bool, default=False
        Use raw distances instead of mutual reachability.
    verbose : bool, default=False
        Print each cluster's separation and sparseness.
    **kwd_args : passed to the metric

    Returns
    -------
    float in [-1, 1] (higher is better), and with per_cluster_scores an
    ndarray of shape (max label + 1,).

    Raises
    ------
    ValueError
        metric="precomputed" without d, or labels of another length than X.
    """
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels)
    if X.ndim != 2 or len(labels) != X.shape[0]:
        raise ValueError(f"validity_index: X must be 2-D with one row per label (X {X.shape}, labels {labels.shape})")
    if metric == "precomputed" and d is None:
        raise ValueError("validity_index: metric='precomputed' needs d, the dimension of the data")
    if metric != "precomputed":
        d = X.shape[1]
    k = int(labels.max()) + 1 if len(labels) else 0
    members = [np.flatnonzero(labels == c) for c in range(k)]
    core: dict[int, np.ndarray] = {}
    nodes: dict[int, np.ndarray] = {}
    sparseness: dict[int, float] = {}
    for c in range(k):
        if len(members[c]) == 0:
            continue
        idx = members[c]
        dist = X[np.ix_(idx, idx)] if metric == "precomputed" else _pairwise(X[idx], None, metric, kwd_args)
        if mst_raw_dist:
            weights = dist
        else:
            core[c] = _all_points_core_distance(dist, float(d))
            weights = np.maximum(dist, np.maximum(core[c][None, :], core[c][:, None]))
        nodes[c], edges = _internal_mst(weights)
        sparseness[c] = float(edges[:, 2].max())
        if verbose:
            print(f"cluster {c}: density sparseness {sparseness[c]}")
    separation = np.full((k, k), np.inf)
    for i in range(k):
        if len(members[i]) == 0:
            continue
        a = members[i][nodes[i]]
        for j in range(i + 1, k):
            if len(members[j]) == 0:
                continue
            b = members[j][nodes[j]]
            dist = X[np.ix_(a, b)] if metric == "precomputed" else _pairwise(X[a], X[b], metric, kwd_args)
            if not mst_raw_dist:
                dist = np.maximum(dist, np.maximum(core[i][nodes[i]][:, None], core[j][nodes[j]][None, :]))
            separation[i, j] = separation[j, i] = dist.min()
    scores = np.empty(k)
    result = 0.0
    n = float(X.shape[0])
    for c in range(k):
        if len(members[c]) == 0:
            continue
        sep = separation[c].min()
        scores[c] = (sep - sparseness[c]) / max(sep, sparseness[c])
        if verbose:
            print(f"cluster {c}: minimum density separation {sep}")
        result += (len(members[c]) / n) * scores[c]
    return (result, scores) if per_cluster_scores else result


def relative_validity(labels: np.ndarray, mst: np.ndarray) -> float:
    """hdbscan's relative_validity_: DBCV approximated on the clustering's own
    minimum spanning tree (mutual reachability, rows from, to, distance):
    per cluster, sparseness = its longest internal MST edge and separation =
    its shortest MST edge to another cluster (twice the longest MST edge, or
    twice the shortest noise edge with one cluster, where there is none);
    score = sum over clusters of size / n x (separation - sparseness) /
    max(separation, sparseness)."""
    labels = np.asarray(labels)
    sizes = np.bincount(labels + 1)
    cluster_size = sizes[1:]
    total = sizes.sum()
    k = len(cluster_size)
    if len(mst) == 0 or k == 0:
        return 0.0
    a = labels[mst[:, 0].astype(np.intp)]
    b = labels[mst[:, 1].astype(np.intp)]
    w = mst[:, 2]
    max_distance = max(0.0, float(w.max()))
    one_noise = (a == -1) != (b == -1)
    min_outlier_sep = float(w[one_noise].min()) if one_noise.any() else np.inf
    sparse = np.zeros(k)
    sep = np.full(k, np.inf)
    same = (a == b) & (a >= 0)
    np.maximum.at(sparse, a[same], w[same])
    cross = (a != b) & (a >= 0) & (b >= 0)
    np.minimum.at(sep, a[cross], w[cross])
    np.minimum.at(sep, b[cross], w[cross])
    min_outlier_sep = max_distance if min_outlier_sep == np.inf else min_outlier_sep
    sep[sep == np.inf] = 2 * (max_distance if k > 1 else min_outlier_sep)
    v = (sep - sparse) / np.maximum(sep, sparse)
    return float(np.sum(cluster_size * v / total))


# ------------------------------------------------------------- centres
def weighted_centroid(est: Any, cluster_id: int) -> np.ndarray:
    """The membership-weighted mean of a cluster's vectors (hdbscan's
    weighted_cluster_centroid; scikit-learn's centroids_ rows)."""
    data, mask = _cluster_rows(est, cluster_id, "weighted_cluster_centroid")
    return np.average(data[mask], weights=est.probabilities_[mask], axis=0)


def weighted_medoid(est: Any, cluster_id: int) -> np.ndarray:
    """The cluster's item minimising the membership-weighted sum of distances
    to the others under the fitted metric (hdbscan's weighted_cluster_medoid;
    scikit-learn's medoids_ rows). O(m^2) distances for a cluster of m."""
    data, mask = _cluster_rows(est, cluster_id, "weighted_cluster_medoid")
    members = data[mask]
    metric = est._model.metric if est._model.source_kind == "dense" else est.metric
    dist = _pairwise(members, None, metric, {}) * est.probabilities_[mask]
    return members[int(np.argmin(dist.sum(axis=1)))]


def _cluster_rows(est: Any, cluster_id: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est)
    if isinstance(cluster_id, bool) or not isinstance(cluster_id, (int, np.integer)):
        raise TypeError(f"{what}: cluster_id must be an int (got {type(cluster_id).__name__})")
    if cluster_id == -1:
        raise ValueError(f"{what}: cannot compute a centre for -1, the noise label")
    k = len(est.cluster_persistence_)
    if not 0 <= cluster_id < k:
        raise ValueError(f"{what}: cluster_id {cluster_id} is not a label (0..{k - 1})")
    data = _rows(est)
    if data is None or data.ndim != 2:
        raise NotImplementedError(f"{what}: needs vector data (the model holds {est._model.source_kind} items)")
    return data, est.labels_ == cluster_id


def store_centers(est: Any, which: str | None) -> None:
    """Sets centroids_ and/or medoids_ as scikit-learn's HDBSCAN(store_centers=which)."""
    for name in ("centroids_", "medoids_"):
        est.__dict__.pop(name, None)
    if which is None:
        return
    k = len(est.cluster_persistence_)
    data = _rows(est)
    if data is None or data.ndim != 2:
        raise NotImplementedError(
            f"store_centers={which!r} needs vector data (the model holds {est._model.source_kind} items)"
        )
    if which in ("centroid", "both"):
        est.centroids_ = np.array([weighted_centroid(est, c) for c in range(k)]).reshape(k, data.shape[1])
    if which in ("medoid", "both"):
        est.medoids_ = np.array([weighted_medoid(est, c) for c in range(k)]).reshape(k, data.shape[1])


# ------------------------------------------------ flat clustering (hdbscan.flat)
def _count_clusters(est: Any, method: str, epsilon: float) -> int:
    """Clusters selected from est's tree with `method` and `epsilon` (the
    other selection parameters at their defaults, as hdbscan.flat does)."""
    from chutoro import _core

    mst = np.ascontiguousarray(est.minimum_spanning_tree_.to_numpy(), dtype=np.float64)
    core = np.ascontiguousarray(est.core_distances_, dtype=np.float32)
    r = _core.extract_clusters(mst, core, int(est.min_cluster_size), method, float(epsilon), False)
    return len(r["cluster_persistence"])


def _flat_epsilon(est: Any, method: str, n_clusters: int) -> tuple[str, float]:
    """hdbscan.flat's select_epsilon: the (method, epsilon) giving n_clusters.
    eom: the largest split distance (minus 1e-12) at which eom with epsilon
    selects n_clusters (method leaf, with a warning, when eom cannot give that
    many); leaf: the distance just below the (n_clusters - 1)-th split."""
    import warnings

    tree = est.condensed_tree_.to_numpy()
    lambdas = np.unique(tree["lambda_val"][tree["child_size"] > 1].astype(float))
    if method == "eom":
        most = _count_clusters(est, "eom", 0.0)
        if n_clusters > most:
            warnings.warn(f"Cannot predict more than {most} with cluster selection method 'eom'. "
                          "Changing to method 'leaf'...", stacklevel=3)
            method = "leaf"
        else:
            for epsilon in np.sort(1.0 / lambdas - 1e-12)[::-1]:
                if _count_clusters(est, "eom", epsilon) == n_clusters:
                    return method, float(epsilon)
            raise RuntimeError(f"Could not find a cluster_selection_epsilon giving {n_clusters} clusters")
    if n_clusters > len(lambdas) + 1:
        warnings.warn(f"HDBSCAN can only compute {len(lambdas) + 1} clusters. "
                      f"Setting n_clusters to {len(lambdas) + 1}...", stacklevel=3)
        n_clusters = len(lambdas) + 1
    if n_clusters < 2:
        raise ValueError(f"n_clusters must be >= 2 (got {n_clusters})")
    return method, float(1.0 / lambdas[n_clusters - 2] - 1e-12)


def HDBSCAN_flat(  # noqa: N802 (hdbscan's name)
    X: Any,
    n_clusters: int | None = None,
    cluster_selection_epsilon: float = 0.0,
    clusterer: Any = None,
    inplace: bool = False,
    **kwargs: Any,
) -> Any:
    """A flat clustering with a requested number of clusters (hdbscan.flat.HDBSCAN_flat).

    Fits ``clusterer`` (a copy unless ``inplace``; else ``FISHDBC(**kwargs)``)
    on X, then picks the ``cluster_selection_epsilon`` that gives
    ``n_clusters`` clusters (see hdbscan.flat.select_epsilon; eom switches
    to leaf, with a warning, when it cannot give that many) and re-selects
    with it; without n_clusters, ``cluster_selection_epsilon`` is used.
    The returned estimator has ``prediction_data_``, and its
    ``cluster_selection_epsilon`` (and method) are those chosen.

    Raises
    ------
    ValueError
        n_clusters < 2.
    RuntimeError
        No epsilon gives exactly n_clusters with eom.
    """
    import copy
    import warnings

    from chutoro._estimator import FISHDBC

    if clusterer is not None and not isinstance(clusterer, FISHDBC):
        raise TypeError(f"HDBSCAN_flat: clusterer must be a chutoro.FISHDBC (got {type(clusterer).__name__})")
    if n_clusters is not None and cluster_selection_epsilon != 0.0:
        warnings.warn(f"'cluster_selection_epsilon' (={cluster_selection_epsilon}) is ignored when "
                      "'n_clusters' is supplied.", stacklevel=2)
        cluster_selection_epsilon = 0.0
    if clusterer is None:
        est = FISHDBC(**kwargs)
    else:
        est = clusterer if inplace else copy.deepcopy(clusterer)
    est.set_params(prediction_data=True)
    if n_clusters is None and cluster_selection_epsilon == 0.0:
        return est.fit(X)
    est.set_params(cluster_selection_epsilon=0.0)
    est.fit(X)
    method = est.cluster_selection_method
    epsilon = float(cluster_selection_epsilon)
    if n_clusters is not None:
        method, epsilon = _flat_epsilon(est, method, int(n_clusters))
    return est.recluster(cluster_selection_method=method, cluster_selection_epsilon=epsilon)


def approximate_predict_flat(
    clusterer: Any,
    points_to_predict: Any,
    n_clusters: int | None = None,
    cluster_selection_epsilon: float | None = None,
    prediction_data: Any = None,
    return_prediction_data: bool = False,
) -> tuple[Any, ...]:
    """Labels of new points for a flat clustering with ``n_clusters`` clusters
    or at ``cluster_selection_epsilon`` (hdbscan.flat.approximate_predict_flat),
    without changing the fitted labels: the clusters are re-selected from the
    same tree for the call (so concurrent calls on one estimator must be
    serialised), then the points are predicted as :func:`chutoro.approximate_predict`.
    Without either argument (or with the fitted number of clusters) it is
    ``approximate_predict``. ``prediction_data`` is accepted for hdbscan's
    signature and must be None (chutoro keeps what it needs in the model).

    Returns
    -------
    labels : ndarray (n_new,), int32
    probabilities : ndarray (n_new,), float64
    prediction_data : PredictionData, with return_prediction_data
    """
    est = _fitted(clusterer, "approximate_predict_flat")
    if prediction_data is not None:
        raise TypeError("approximate_predict_flat: prediction_data must be None (the model keeps its own)")
    fitted_k = int(np.sum(np.unique(est.labels_) >= 0))
    if n_clusters is not None:
        n_clusters = int(n_clusters)
    if (n_clusters is None or n_clusters == fitted_k) and cluster_selection_epsilon is None:
        labels, probs = est.approximate_predict(points_to_predict)
        return (labels, probs, PredictionData(est)) if return_prediction_data else (labels, probs)
    with _flat_selection(est, n_clusters, cluster_selection_epsilon, fitted_k):
        labels, probs = est.approximate_predict(points_to_predict)
        data = PredictionData(est) if return_prediction_data else None  # the flat clustering's exemplars
    return (labels, probs, data) if return_prediction_data else (labels, probs)


class _flat_selection:
    """Context: est's model re-selected for n_clusters (or at epsilon) with
    hdbscan.flat's choice, the fitted selection restored on exit."""

    _KEYS = ("min_cluster_size", "cluster_selection_method", "cluster_selection_epsilon", "allow_single_cluster",
             "max_cluster_size", "cluster_selection_persistence", "cluster_selection_epsilon_max")

    def __init__(self, est: Any, n_clusters: int | None, epsilon: float | None, fitted_k: int) -> None:
        method = est.cluster_selection_method
        if n_clusters is not None:
            if method == "eom" and n_clusters > fitted_k:
                method = "leaf"  # hdbscan switches too (with a warning)
            method, epsilon = _flat_epsilon(est, method, n_clusters)
        self.est, self.method, self.epsilon = est, method, float(epsilon or 0.0)

    def __enter__(self) -> None:
        model = self.est._model
        self.saved = dict(model.parameters)
        model.cluster(int(self.saved["min_cluster_size"]), self.method, self.epsilon,
                      bool(self.saved["allow_single_cluster"]))

    def __exit__(self, *exc: Any) -> None:
        self.est._model.cluster(**{k: self.saved[k] for k in self._KEYS})


def membership_vector_flat(
    clusterer: Any,
    points_to_predict: Any,
    prediction_data: Any = None,
    n_clusters: int | None = None,
    cluster_selection_epsilon: float = 0.0,
) -> np.ndarray:
    """:func:`membership_vector` for the flat clustering with ``n_clusters``
    clusters or at ``cluster_selection_epsilon`` (hdbscan.flat.membership_vector_flat),
    without changing the fitted clustering (calls on one estimator must be
    serialised). Shape (n_new, n_clusters)."""
    est = _fitted(clusterer, "membership_vector_flat")
    if prediction_data is not None:
        raise TypeError("membership_vector_flat: prediction_data must be None (the model keeps its own)")
    if n_clusters is None and cluster_selection_epsilon == 0.0:
        return membership_vector(est, points_to_predict)
    fitted_k = int(np.sum(np.unique(est.labels_) >= 0))
    with _flat_selection(est, None if n_clusters is None else int(n_clusters), cluster_selection_epsilon, fitted_k):
        return np.asarray(est._predict_soft(points_to_predict, True)["membership"])


def all_points_membership_vectors_flat(
    clusterer: Any, prediction_data: Any = None, n_clusters: int | None = None,
    cluster_selection_epsilon: float | None = None,
) -> np.ndarray:
    """:func:`all_points_membership_vectors` for the flat clustering with
    ``n_clusters`` clusters or at ``cluster_selection_epsilon``
    (hdbscan.flat.all_points_membership_vectors_flat), without changing the
    fitted clustering. Shape (n_samples, n_clusters)."""
    est = _fitted(clusterer, "all_points_membership_vectors_flat")
    if prediction_data is not None:
        raise TypeError("all_points_membership_vectors_flat: prediction_data must be None")
    if n_clusters is None and cluster_selection_epsilon is None:
        return all_points_membership_vectors(est)
    fitted_k = int(np.sum(np.unique(est.labels_) >= 0))
    with _flat_selection(est, None if n_clusters is None else int(n_clusters), cluster_selection_epsilon, fitted_k):
        return np.asarray(est._model.all_points_membership_vectors())
