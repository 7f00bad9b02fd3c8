// chutoro — flat cluster selection: excess of mass (with max_cluster_size and
// cluster_selection_epsilon_max) or leaves, then cluster_selection_epsilon (hdbscan's `get_clusters`,
// `epsilon_search`, `traverse_upwards`, `get_cluster_tree_leaves`).
#include <algorithm>
#include <chutoro/error.hpp>
#include <cmath>
#include <limits>
#include <string>

#include "core/hierarchy/condensed_index.hpp"
#include "core/hierarchy/hierarchy.hpp"

namespace chutoro::detail {

namespace {

constexpr double kNoEpsilonMax = std::numeric_limits<double>::infinity();

// hdbscan accumulates children's stabilities in a `cdef float` through Python
// floats: each partial sum is computed in double and rounded to float32.
// (A plain static_cast is undefined past FLT_MAX, hence the explicit edges.)
double round_to_float32(double x) noexcept {
  if (std::isnan(x) || std::isinf(x)) return x;
  constexpr double kOverflow = 0x1.ffffffp127;  // FLT_MAX + half an ulp: rounds (to even) to inf
  if (std::fabs(x) >= kOverflow) return std::copysign(std::numeric_limits<double>::infinity(), x);
  if (std::fabs(x) > static_cast<double>(std::numeric_limits<float>::max())) {
    return std::copysign(static_cast<double>(std::numeric_limits<float>::max()), x);
  }
  return static_cast<double>(static_cast<float>(x));
}

// Excess of mass: chosen[c] = 1 for the selected clusters; stability is
// updated in place where the children's sum wins.
// max_cluster_size and cluster_selection_epsilon_max (hdbscan 0.8.40's
// get_clusters): a cluster larger than the first, or born at a distance above
// the second, is never kept and takes its children's stability sum. A
// cluster's size is the child_size of the row creating it; the root's (with
// allow_single_cluster) is the sum over its child clusters, and its birth
// distance is the largest 1/lambda of the whole tree, as hdbscan has them.
void select_eom(std::span<const condensed_row> tree, const condensed_index& ix, const selection_params& sp,
                std::vector<double>& stability, std::vector<char>& chosen) {
  const std::size_t nc = ix.n_clusters;
  const bool allow_single_cluster = sp.allow_single_cluster;
  const std::size_t last = allow_single_cluster ? 0 : 1;  // the root takes part only when allowed
  const bool limits = sp.max_cluster_size > 0 || sp.cluster_selection_epsilon_max != kNoEpsilonMax;
  std::vector<std::int64_t> size(nc, 0);
  std::vector<double> born_at(nc, 0.0);  // 1 / birth lambda: the distance a cluster appears at
  if (limits) {
    double min_lambda = std::numeric_limits<double>::infinity();
    for (const condensed_row& row : tree) {
      min_lambda = std::min(min_lambda, row.lambda_val);
      if (row.child < static_cast<std::int64_t>(ix.n)) continue;
      size[ix.cluster_index(row.child)] = row.child_size;
      if (ix.cluster_index(row.parent) == 0) size[0] += row.child_size;
    }
    for (std::size_t c = 1; c < nc; ++c) born_at[c] = 1.0 / ix.birth[c];
    born_at[0] = 1.0 / min_lambda;
  }
  const auto max_size = sp.max_cluster_size > 0 ? static_cast<std::int64_t>(sp.max_cluster_size)
                                                : std::numeric_limits<std::int64_t>::max();
  std::vector<char> kept(nc, 0);
  for (std::size_t c = nc; c-- > last;) {  // children have larger ids: bottom-up
    double subtree = 0.0;
    for (const std::int64_t child : ix.children_of(c)) {
      subtree = round_to_float32(subtree + stability[ix.cluster_index(child)]);
    }
    const bool too_big = limits && (size[c] > max_size || born_at[c] > sp.cluster_selection_epsilon_max);
    if (subtree > stability[c] || too_big) {
      stability[c] = subtree;
    } else {
      kept[c] = 1;
    }
  }
  // A kept cluster unselects all its descendants: keep those with no kept ancestor.
  std::vector<char> covered(nc, 0);  // some strict ancestor is kept
  for (std::size_t c = 1; c < nc; ++c) {
    const std::size_t p = ix.cluster_index(ix.parent[c]);
    covered[c] = static_cast<char>(covered[p] || kept[p]);
  }
  for (std::size_t c = 0; c < nc; ++c) chosen[c] = static_cast<char>(kept[c] && !covered[c]);
}

// hdbscan's epsilon_search over the clusters marked in `chosen` (never the
// root). Because sibling clusters share a birth lambda and births grow down
// the tree, the result does not depend on the order the clusters are visited in.
std::vector<char> epsilon_search(const condensed_index& ix, const std::vector<char>& chosen, double epsilon,
                                 bool allow_single_cluster) {
  const std::size_t nc = ix.n_clusters;
  std::vector<char> out(nc, 0);
  std::vector<char> processed(nc, 0);  // strict descendants of a cluster taken by the upward walk
  std::vector<std::size_t> todo;
  for (std::size_t c = 1; c < nc; ++c) {
    if (!chosen[c]) continue;
    if (1.0 / ix.birth[c] >= epsilon) {  // born at a distance >= epsilon: stays
      out[c] = 1;
      continue;
    }
    if (processed[c]) continue;
    // traverse_upwards: the nearest ancestor born at a distance > epsilon; the
    // walk stops below the root (or at it, with allow_single_cluster).
    std::size_t x = c;
    std::size_t taken = 0;
    while (true) {
      const std::size_t p = ix.cluster_index(ix.parent[x]);
      if (p == 0) {
        taken = allow_single_cluster ? 0 : x;
        break;
      }
      if (1.0 / ix.birth[p] > epsilon) {
        taken = p;
        break;
      }
      x = p;
    }
    out[taken] = 1;
    for (const std::int64_t child : ix.children_of(taken)) todo.push_back(ix.cluster_index(child));
    while (!todo.empty()) {  // subtrees already processed are skipped whole
      const std::size_t y = todo.back();
      todo.pop_back();
      if (processed[y]) continue;
      processed[y] = 1;
      for (const std::int64_t child : ix.children_of(y)) todo.push_back(ix.cluster_index(child));
    }
  }
  return out;
}

}  // namespace

cluster_selection select_clusters(std::span<const condensed_row> tree, std::size_t n,
                                  std::span<const double> stability, const selection_params& sp) {
  const double epsilon = sp.cluster_selection_epsilon;
  expects(!std::isnan(epsilon) && epsilon >= 0, error_code::invalid_argument,
          "cluster_selection_epsilon must be >= 0, got " + std::to_string(epsilon));
  const condensed_index ix = index_condensed_tree(tree, n);
  const std::size_t nc = ix.n_clusters;
  expects(stability.size() == nc, error_code::invalid_argument,
          "select_clusters: stability has " + std::to_string(stability.size()) + " values for " +
              std::to_string(nc) + " clusters");

  cluster_selection result;
  result.stability.assign(stability.begin(), stability.end());
  std::vector<char> chosen(nc, 0);
  const bool has_child_clusters = nc > 1;

  if (sp.method == cluster_selection_method::eom) {
    select_eom(tree, ix, sp, result.stability, chosen);
    if (epsilon != 0.0 && has_child_clusters) {
      std::size_t count = 0;
      for (const char c : chosen) count += c != 0;
      const bool root_alone = count == 1 && chosen[0];
      if (!root_alone) chosen = epsilon_search(ix, chosen, epsilon, sp.allow_single_cluster);
    }
  } else if (sp.method == cluster_selection_method::leaf) {
    // With no child clusters hdbscan marks the root, then keeps only what is
    // in the (empty) leaf set: nothing is selected.
    for (std::size_t c = 1; c < nc; ++c) chosen[c] = static_cast<char>(ix.children_of(c).empty());
    if (epsilon != 0.0) chosen = epsilon_search(ix, chosen, epsilon, sp.allow_single_cluster);
  } else {
    throw error(error_code::invalid_argument,
                "cluster_selection_method: unknown value " + std::to_string(static_cast<int>(sp.method)));
  }

  for (std::size_t c = 0; c < nc; ++c) {
    if (chosen[c]) result.clusters.push_back(static_cast<std::int64_t>(n + c));
  }
  return result;
}

}  // namespace chutoro::detail
