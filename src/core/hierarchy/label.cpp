// chutoro — labels, membership probabilities and cluster persistence
// (hdbscan's `do_labelling`, `get_probabilities`, `get_stability_scores`).
#include <algorithm>
#include <chutoro/error.hpp>
#include <cmath>
#include <string>

#include "core/hierarchy/condensed_index.hpp"
#include "core/hierarchy/hierarchy.hpp"

namespace chutoro::detail {

void label_points(std::span<const condensed_row> tree, std::size_t n, const cluster_selection& selection,
                  const selection_params& sp, clustering& out) {
  const condensed_index ix = index_condensed_tree(tree, n);
  const std::size_t nc = ix.n_clusters;
  const std::size_t k = selection.clusters.size();
  expects(selection.stability.size() == nc, error_code::invalid_argument,
          "label_points: selection.stability has " + std::to_string(selection.stability.size()) +
              " values for " + std::to_string(nc) + " clusters");
  expects(std::is_sorted(selection.clusters.begin(), selection.clusters.end()), error_code::invalid_argument,
          "label_points: selected clusters must be ascending");

  constexpr std::int32_t kNone = -1;
  std::vector<std::int32_t> label_of(nc, kNone);
  for (std::size_t j = 0; j < k; ++j) {
    const std::int64_t id = selection.clusters[j];
    if (id < static_cast<std::int64_t>(n) || ix.cluster_index(id) >= nc) {
      throw error(error_code::invalid_argument,
                  "label_points: selected cluster " + std::to_string(id) + " is not in the condensed tree");
    }
    label_of[ix.cluster_index(id)] = static_cast<std::int32_t>(j);
  }

  // owner[c]: the nearest selected cluster among c and its ancestors, else
  // the root (index 0) — the component representative of hdbscan's union-find.
  std::vector<std::size_t> owner(nc, 0);
  for (std::size_t c = 1; c < nc; ++c) {
    owner[c] = label_of[c] != kNone ? c : owner[ix.cluster_index(ix.parent[c])];
  }

  const double epsilon = sp.cluster_selection_epsilon;
  const bool root_alone = k == 1 && sp.allow_single_cluster && label_of[0] != kNone;
  out.labels.assign(n, kNone);
  out.probabilities.assign(n, 0.0);
  std::vector<std::size_t> sizes(k, 0);
  for (std::size_t x = 0; x < n; ++x) {
    const std::size_t c = owner[ix.cluster_index(ix.point_parent[x])];
    const double lambda = ix.point_lambda[x];
    std::int32_t label = kNone;
    if (c != 0) {
      label = label_of[c];
    } else if (root_alone) {
      // The root as the single cluster keeps only its densest items.
      const bool member = epsilon != 0.0 ? lambda >= 1.0 / epsilon : lambda >= ix.max_lambda[0];
      if (member) label = label_of[0];
    }
    out.labels[x] = label;
    if (label == kNone) continue;
    ++sizes[static_cast<std::size_t>(label)];
    const double max_lambda = ix.max_lambda[c];
    out.probabilities[x] =
        (max_lambda == 0.0 || !std::isfinite(lambda)) ? 1.0 : std::min(lambda, max_lambda) / max_lambda;
  }

  out.outlier_scores = outlier_scores(tree, n);

  const double max_lambda = ix.tree_max_lambda;
  out.cluster_persistence.assign(k, 1.0);
  for (std::size_t j = 0; j < k; ++j) {
    if (std::isinf(max_lambda) || max_lambda == 0.0 || sizes[j] == 0) continue;
    out.cluster_persistence[j] = selection.stability[ix.cluster_index(selection.clusters[j])] /
                                 (static_cast<double>(sizes[j]) * max_lambda);
  }
}

}  // namespace chutoro::detail
