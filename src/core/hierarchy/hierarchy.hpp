// chutoro — HDBSCAN* hierarchy stages, from a minimum spanning tree to a flat
// clustering (Campello, Moulavi, Sander 2013; Campello et al. 2015), following
// the conventions of the hdbscan Python library (McInnes, Healy, Astels 2017;
// hdbscan/_hdbscan_linkage.pyx and hdbscan/_hdbscan_tree.pyx, release 0.8.44)
// so results are comparable one to one, quirks included: each function names
// the hdbscan function it reproduces.
//
// Ids: items are 0..n-1. Single-linkage merges are n..2n-2 (row r is n + r).
// Condensed-tree clusters are n..n+C-1, the root is n, and a parent's id is
// smaller than its children's (ids follow a breadth-first walk).
// lambda = 1 / distance (inf for distance 0, 0 for an infinite distance).
//
// None of these functions is thread safe on shared outputs; all are reentrant.
#pragma once

#include <chutoro/params.hpp>
#include <chutoro/result.hpp>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace chutoro::detail {

/// Single-linkage tree (scipy layout) from the n - 1 edges of a spanning tree,
/// in any order. Edges are taken by ascending distance, ties in input order
/// (stable sort); row r merges the clusters holding edge.a (`left`) and edge.b
/// (`right`) into cluster n + r (hdbscan's `label`). Infinite distances are
/// allowed (they join disconnected parts). O(n log n) time, O(n) memory.
/// Throws error(invalid_argument) when mst.size() != n - 1, an id is out of
/// range, an edge is a self-loop or closes a cycle, or a distance is NaN or negative.
std::vector<linkage_row> single_linkage(std::size_t n, std::span<const mst_edge> mst);

/// Condensed tree (Campello et al. 2013, sec. 2.3 and 4; hdbscan's
/// `condense_tree`): walks the single-linkage tree breadth-first from its root.
/// At each split at distance d, lambda = 1/d:
///  - both sides >= min_cluster_size: two new clusters (left gets the next id first);
///  - both sides smaller: every item of both leaves the cluster at lambda;
///  - one side smaller: its items leave at lambda, the other side goes on as
///    the same cluster.
/// Rows are in hdbscan's order (clusters in breadth-first order; the items of a
/// fallen subtree in breadth-first order). n = slt.size() + 1. O(n) time and memory.
/// Throws error(invalid_argument) when min_cluster_size < 2.
std::vector<condensed_row> condense_tree(std::span<const linkage_row> slt, std::size_t min_cluster_size);

/// Stability (excess of mass, Campello et al. 2013, sec. 4.1; hdbscan's
/// `compute_stability`) of every cluster, indexed by (cluster id - n):
///   S(c) = sum over rows with parent c of (lambda - birth(c)) * child_size,
/// birth(c) = lambda of the row whose child is c, birth(root) = 0.
/// Summed in row order in double. O(rows).
std::vector<double> cluster_stability(std::span<const condensed_row> tree, std::size_t n);

/// Outcome of select_clusters.
struct cluster_selection {
  /// Selected cluster ids (>= n), ascending: label k is clusters[k].
  std::vector<std::int64_t> clusters;
  /// Stability per (cluster id - n) after excess-of-mass propagation: where
  /// a cluster's children were worth more, its entry holds their sum, rounded
  /// to float32 as hdbscan does. Equal to the input for leaf selection.
  /// Cluster persistence is computed from these values.
  std::vector<double> stability;
};

/// Flat cluster selection (hdbscan 0.8.40's `get_clusters`).
///  - eom (Campello et al. 2013, sec. 4.1): bottom-up, a cluster is kept when
///    its stability is >= the sum of its children's (that sum accumulated in
///    float32, as hdbscan's `cdef float`), otherwise it takes that sum; the
///    kept clusters with no kept ancestor are selected. The root takes part
///    only with allow_single_cluster. A cluster of more than max_cluster_size
///    items (> 0), or born at a distance 1/lambda above
///    cluster_selection_epsilon_max, is never kept (it takes its children's
///    sum); the root's size is the sum of its child clusters' sizes and its
///    birth distance the largest 1/lambda of the tree, as hdbscan has them.
///  - leaf: the clusters with no child clusters; none when the root has no
///    child clusters, whatever allow_single_cluster says.
///  - cluster_selection_epsilon > 0 (Malzer & Baum 2020; hdbscan's
///    `epsilon_search` / `traverse_upwards`): a selected cluster born at a
///    distance 1/lambda < epsilon is replaced by its nearest ancestor born at a
///    distance > epsilon; when the walk reaches the root's child, that child is
///    taken (or the root, with allow_single_cluster). With eom, a root
///    selected alone is kept as it is.
/// O(C) after an O(rows) index. Throws error(invalid_argument) on a malformed
/// tree or a negative / NaN epsilon.
cluster_selection select_clusters(std::span<const condensed_row> tree, std::size_t n,
                                  std::span<const double> stability, const selection_params& sp);

/// Persistence simplification (hdbscan 0.8.40's `simplify_hierarchy`, for
/// cluster_selection_persistence): the splits are visited bottom-up; where the
/// less persistent child of a split lives less than `persistence` in lambda
/// (its largest lambda, raised to its descendants', minus the split's lambda,
/// in float32 as hdbscan), both children are merged into the parent: their
/// rows move to it, the less persistent child's rows (when the other child
/// has child clusters) leave at the split's lambda, the parent becomes a leaf
/// when the more persistent child was one, and the clusters are renumbered
/// consecutively in the same order. persistence == 0 or a tree without
/// splits gives the tree unchanged. O(rows). Throws error(invalid_argument)
/// for a negative or NaN persistence.
std::vector<condensed_row> simplify_hierarchy(std::span<const condensed_row> tree, std::size_t n,
                                              double persistence);

/// DBSCAN* flat clustering at one mutual-reachability distance (hdbscan's
/// `labelling_at_cut`, Campello et al. 2013 sec. 3): items joined by merges
/// of `slt` at distances < cut_distance form a group; groups of at least
/// min_cluster_size items get labels 0, 1, ... in the order of their first
/// item (hdbscan numbers them by union-find representative: the same
/// partition), the others -1. n = slt.size() + 1 labels. O(n alpha(n)).
/// Throws error(invalid_argument) for a NaN cut_distance.
std::vector<std::int32_t> labelling_at_cut(std::span<const linkage_row> slt, double cut_distance,
                                           std::size_t min_cluster_size);

/// GLOSH outlier scores (Campello et al. 2015, sec. 5.1; hdbscan's
/// `outlier_scores`), n values: for item x leaving cluster c at lambda_x,
/// lambda_max = the largest lambda in c's subtree and
///   score = (lambda_max - lambda_x) / lambda_max,
/// 0 when lambda_max == 0 or lambda_x is infinite; NaN when lambda_max is
/// infinite and lambda_x is not (as hdbscan). O(rows).
std::vector<double> outlier_scores(std::span<const condensed_row> tree, std::size_t n);

/// Fills out.labels, out.probabilities, out.outlier_scores and
/// out.cluster_persistence from the condensed tree and a selection (hdbscan's
/// `do_labelling`, `get_probabilities`, `outlier_scores`, `get_stability_scores`;
/// match_reference_implementation = False):
///  - label: the nearest selected cluster among the item's ancestors, as
///    0..k-1 in ascending cluster id; -1 when there is none. Items whose
///    nearest selected ancestor is the root are clustered only when the root
///    is the single selected cluster and allow_single_cluster is set, and then
///    only when lambda_x >= 1 / epsilon (epsilon > 0) or lambda_x >= the
///    largest lambda among the root's own rows (epsilon == 0).
///  - probability: with c the item's selected cluster and m = the largest
///    lambda among c's own rows, min(lambda_x, m) / m; 1 when m == 0 or
///    lambda_x is infinite; 0 for noise.
///  - persistence of cluster c with k_c labelled items: selection.stability[c]
///    / (k_c * max lambda of the whole tree); 1 when that max lambda is 0 or
///    infinite, or k_c == 0.
/// O(rows). Throws error(invalid_argument) on a malformed tree.
void label_points(std::span<const condensed_row> tree, std::size_t n, const cluster_selection& selection,
                  const selection_params& sp, clustering& out);

/// All of the above: mst -> clustering, with condensed_tree and
/// single_linkage_tree filled in. n <= 1 gives every item label -1 and empty
/// trees. O(n log n). Throws error(invalid_argument) for a bad spanning tree or
/// selection parameters (min_cluster_size < 2, negative or NaN epsilon).
clustering extract(std::size_t n, std::span<const mst_edge> mst, const selection_params& sp);

}  // namespace chutoro::detail
