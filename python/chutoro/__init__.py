"""chutoro: fast density-based clustering for any data and any distance.

chutoro implements FISHDBC (Dell'Amico 2019, "FISHDBC: Flexible, Incremental,
Scalable, Hierarchical Density-Based Clustering for Arbitrary Data and
Distance", arXiv:1910.07283), a scalable approximation of HDBSCAN* (Campello,
Moulavi & Sander 2013; Campello et al. 2015). ``candidates="exact"`` computes
all pairs and reproduces HDBSCAN* exactly.

The entry point is :class:`FISHDBC`, a scikit-learn estimator shaped like
``hdbscan.HDBSCAN``::

    import chutoro
    labels = chutoro.FISHDBC(min_cluster_size=15).fit_predict(X)

X may also be an Arrow column (any object with ``__arrow_c_stream__`` or
``__arrow_c_array__``) or a plugin source from :func:`load_plugin`.

A fitted estimator keeps its model: ``partial_fit`` adds items (FISHDBC's
incremental update), ``recluster`` changes the selection parameters without
rebuilding, ``approximate_predict`` labels new items as hdbscan's function of
that name does, and ``save`` / :func:`load` (and pickle) keep it::

    est = chutoro.FISHDBC().fit(X)
    est.partial_fit(more_X)
    labels, probabilities = chutoro.approximate_predict(est, new_X)
    est.save("model.chutoro");  est = chutoro.load("model.chutoro")

:func:`devices` lists the CUDA devices chutoro can use (an empty list, and
the reason, on a machine without one).
"""

from chutoro._core import __version__
from chutoro._devices import devices
from chutoro._estimator import FISHDBC, approximate_predict, load, metrics
from chutoro._plugin import load_plugin
from chutoro._soft import (
    HDBSCAN_flat,
    PredictionData,
    approximate_predict_flat,
    all_points_membership_vectors,
    all_points_membership_vectors_flat,
    approximate_predict_scores,
    membership_vector,
    membership_vector_flat,
    validity_index,
)
from chutoro._trees import CondensedTree, MinimumSpanningTree, SingleLinkageTree
from chutoro._vectorized import vectorized

__all__ = [
    "FISHDBC",
    "vectorized",
    "approximate_predict",
    "approximate_predict_scores",
    "membership_vector",
    "all_points_membership_vectors",
    "validity_index",
    "PredictionData",
    "HDBSCAN_flat",
    "approximate_predict_flat",
    "membership_vector_flat",
    "all_points_membership_vectors_flat",
    "devices",
    "load",
    "load_plugin",
    "metrics",
    "CondensedTree",
    "SingleLinkageTree",
    "MinimumSpanningTree",
    "__version__",
]
