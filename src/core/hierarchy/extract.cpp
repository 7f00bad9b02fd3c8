// chutoro — the hierarchy pipeline: spanning tree -> flat clustering
// (hdbscan's `_tree_to_labels` plus `outlier_scores`).
#include <chutoro/error.hpp>
#include <cmath>
#include <string>

#include "core/hierarchy/hierarchy.hpp"

namespace chutoro::detail {

clustering extract(std::size_t n, std::span<const mst_edge> mst, const selection_params& sp) {
  expects(sp.min_cluster_size >= 2, error_code::invalid_argument,
          "min_cluster_size must be >= 2, got " + std::to_string(sp.min_cluster_size));
  expects(!std::isnan(sp.cluster_selection_epsilon) && sp.cluster_selection_epsilon >= 0,
          error_code::invalid_argument,
          "cluster_selection_epsilon must be >= 0, got " + std::to_string(sp.cluster_selection_epsilon));
  expects(!std::isnan(sp.cluster_selection_epsilon_max) &&
              sp.cluster_selection_epsilon_max >= sp.cluster_selection_epsilon,
          error_code::invalid_argument,
          "cluster_selection_epsilon_max must be >= cluster_selection_epsilon, got " +
              std::to_string(sp.cluster_selection_epsilon_max));
  expects(std::isfinite(sp.cluster_selection_persistence) && sp.cluster_selection_persistence >= 0,
          error_code::invalid_argument,
          "cluster_selection_persistence must be a finite number >= 0, got " +
              std::to_string(sp.cluster_selection_persistence));
  clustering out;
  out.single_linkage_tree = single_linkage(n, mst);
  if (n < 2) {  // nothing to cluster: every item is noise
    out.labels.assign(n, -1);
    out.probabilities.assign(n, 0.0);
    out.outlier_scores.assign(n, 0.0);
    return out;
  }
  out.condensed_tree = condense_tree(out.single_linkage_tree, sp.min_cluster_size);
  if (sp.cluster_selection_persistence > 0.0)
    out.condensed_tree = simplify_hierarchy(out.condensed_tree, n, sp.cluster_selection_persistence);
  const std::vector<double> stability = cluster_stability(out.condensed_tree, n);
  const cluster_selection selection = select_clusters(out.condensed_tree, n, stability, sp);
  label_points(out.condensed_tree, n, selection, sp, out);
  return out;
}

}  // namespace chutoro::detail
