// chutoro — results as plain arrays, in the hdbscan Python library's column layouts.
#pragma once

#include <chutoro/params.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace chutoro {

/// One minimum-spanning-tree edge; `distance` is the mutual reachability
/// distance max(core(a), core(b), d(a, b)). hdbscan's minimum_spanning_tree_
/// rows [from, to, distance].
struct mst_edge {
  std::int64_t a;
  std::int64_t b;
  double distance;
};

/// One merge of the single-linkage tree (scipy/hdbscan layout): clusters
/// `left` and `right` merge at `distance` into cluster n + row index, of `size` items.
/// Ids < n are items.
struct linkage_row {
  std::int64_t left;
  std::int64_t right;
  double distance;
  std::int64_t size;
};

/// One edge of the condensed tree (hdbscan's condensed_tree_ record:
/// parent, child, lambda_val, child_size). Ids < n are items, the root cluster is n.
/// lambda_val = 1 / distance at which `child` leaves `parent` (inf for distance 0).
struct condensed_row {
  std::int64_t parent;
  std::int64_t child;
  double lambda_val;
  std::int64_t child_size;
};

/// The minimum spanning tree and the state it was built from: the expensive,
/// reusable part of a fit. Edges are sorted by (distance, a, b).
struct spanning_tree {
  std::size_t n = 0;
  std::vector<float> core_distances;  ///< n values
  std::vector<mst_edge> edges;        ///< n - 1 edges (infinite weight joins disconnected parts)
};

/// Counters and per-stage wall times (seconds) of a fit.
struct fit_stats {
  std::uint64_t distance_computations = 0;
  std::uint64_t candidate_edges = 0;      ///< edges harvested (before compaction)
  std::uint64_t peak_buffered_edges = 0;  ///< largest candidate-edge buffer held at once
  std::uint64_t compactions = 0;
  std::uint64_t max_batch_edges = 0;  ///< most edges harvested by one insertion batch
  double seconds_graph = 0;           ///< HNSW build + candidate harvest (or all-pairs core distances)
  double seconds_mst = 0;             ///< minimum spanning tree
  double seconds_hierarchy = 0;       ///< single linkage, condensed tree, selection, scores
  /// The candidate mode the graph stage ran (hnsw or exact, never
  /// auto_select): build_params::candidates, resolved for auto.
  candidate_mode candidates = candidate_mode::hnsw;
  /// The device the graph stage ran on (never auto_select).
  device_kind device = device_kind::cpu;
  /// Why device = auto ran on the CPU (e.g. "no CUDA backend in this build");
  /// empty when the device was chosen explicitly or auto found a GPU stage.
  std::string device_fallback_reason;
};

/// The flat clustering and everything hdbscan exposes after fit.
struct clustering {
  std::vector<std::int32_t> labels;  ///< n, -1 = noise, clusters 0..k-1 in ascending condensed-tree id
  /// n, in [0, 1]: min(lambda_i, lambda_max(c)) / lambda_max(c) within the
  /// item's cluster c (hdbscan's probabilities_); 0 for noise.
  std::vector<double> probabilities;
  /// n, GLOSH (Campello et al. 2015, section 5.1): (lambda_max - lambda_i) /
  /// lambda_max over the item's condensed-tree subtree, in [0, 1]. As in hdbscan,
  /// NaN where that subtree holds exact duplicates (lambda_max = inf) and the
  /// item's own lambda is finite.
  std::vector<double> outlier_scores;
  /// k, hdbscan's cluster_persistence_: stability / (cluster size x the
  /// largest lambda in the tree); 1 when that lambda is 0 or infinite.
  std::vector<double> cluster_persistence;
  std::vector<condensed_row> condensed_tree;
  std::vector<linkage_row> single_linkage_tree;  ///< n - 1 rows
  [[nodiscard]] std::size_t n_clusters() const noexcept { return cluster_persistence.size(); }
};

/// Result of chutoro::fit.
struct result : clustering {
  spanning_tree tree;
  fit_stats stats;
};

}  // namespace chutoro
