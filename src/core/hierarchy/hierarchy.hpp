// chutoro — HDBSCAN* hierarchy stages, from a minimum spanning tree to a flat
// clustering (Campello, Moulavi, Sander 2013; Campello et al. 2015), following
// the conventions of the hdbscan Python library (McInnes, Healy, Astels 2017)
// so results are comparable one to one.
#pragma once

#include <chutoro/params.hpp>
#include <chutoro/result.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace chutoro::detail {

/// Single-linkage tree from n - 1 MST edges (any order): edges are processed
/// by ascending distance (stable: ties keep input order), merging with a
/// union-find; row r creates cluster n + r. O(n log n).
std::vector<linkage_row> single_linkage(std::size_t n, std::span<const mst_edge> mst);

/// hdbscan's condense_tree: walks the single-linkage tree from the root,
/// keeping splits where both sides have >= min_cluster_size items.
std::vector<condensed_row> condense_tree(std::span<const linkage_row> slt, std::size_t min_cluster_size);

/// Stability (excess of mass) of every cluster id in the condensed tree,
/// indexed by (cluster id - n).
std::vector<double> cluster_stability(std::span<const condensed_row> tree, std::size_t n);

/// Selected cluster ids (>= n), ascending, per method / epsilon / allow_single_cluster.
std::vector<std::int64_t> select_clusters(std::span<const condensed_row> tree, std::size_t n,
                                          const selection_params& sp);

/// Fills labels, probabilities, outlier_scores and cluster_persistence of `out`
/// given the condensed tree and the selected clusters (labels follow ascending cluster id).
void label_points(std::span<const condensed_row> tree, std::size_t n,
                  std::span<const std::int64_t> selected, const selection_params& sp, clustering& out);

/// All of the above: mst -> clustering.
clustering extract(std::size_t n, std::span<const mst_edge> mst, const selection_params& sp);

}  // namespace chutoro::detail
