// chutoro — GLOSH outlier scores (Campello et al. 2015, sec. 5.1; hdbscan's
// `outlier_scores`).
#include <cmath>

#include "core/hierarchy/condensed_index.hpp"
#include "core/hierarchy/hierarchy.hpp"

namespace chutoro::detail {

std::vector<double> outlier_scores(std::span<const condensed_row> tree, std::size_t n) {
  const condensed_index ix = index_condensed_tree(tree, n);
  // deaths[c]: the largest lambda anywhere in c's subtree (children have larger ids).
  std::vector<double> deaths = ix.max_lambda;
  for (std::size_t c = ix.n_clusters; c-- > 1;) {
    const std::size_t p = ix.cluster_index(ix.parent[c]);
    if (deaths[c] > deaths[p]) deaths[p] = deaths[c];
  }
  std::vector<double> scores(n, 0.0);
  for (std::size_t x = 0; x < n; ++x) {
    const double lambda_max = deaths[ix.cluster_index(ix.point_parent[x])];
    const double lambda = ix.point_lambda[x];
    if (lambda_max != 0.0 && std::isfinite(lambda)) scores[x] = (lambda_max - lambda) / lambda_max;
  }
  return scores;
}

}  // namespace chutoro::detail
