// chutoro — per-node arrays over a condensed tree, shared by the selection,
// labelling and GLOSH stages so that none of them searches the row list.
#pragma once

#include <chutoro/result.hpp>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace chutoro::detail {

/// Arrays indexed by item id (point_*) or by cluster id - n (the rest). The
/// root is cluster n (index 0); every other cluster has a parent with a
/// smaller id, so ascending index order is a topological order.
struct condensed_index {
  std::size_t n = 0;                       ///< items
  std::size_t n_clusters = 0;              ///< C: clusters n..n+C-1, root included
  std::vector<std::int64_t> point_parent;  ///< n: the cluster each item leaves
  std::vector<double> point_lambda;        ///< n: the lambda at which it leaves
  std::vector<std::int64_t> parent;        ///< C: parent cluster id, -1 for the root
  std::vector<double> birth;               ///< C: lambda of the row creating it, 0 for the root
  std::vector<double> max_lambda;  ///< C: largest lambda among its own rows (hdbscan's max_lambdas), >= 0
  std::vector<std::size_t>
      child_begin;  ///< C + 1: child clusters of c are children[child_begin[c] .. child_begin[c+1])
  std::vector<std::int64_t> children;  ///< child cluster ids, in row order
  double tree_max_lambda = 0;          ///< largest lambda in the whole tree (0 for an empty tree)

  [[nodiscard]] std::size_t cluster_index(std::int64_t id) const noexcept {
    return static_cast<std::size_t>(id) - n;
  }
  [[nodiscard]] std::span<const std::int64_t> children_of(std::size_t c) const noexcept {
    return {children.data() + child_begin[c], child_begin[c + 1] - child_begin[c]};
  }
};

/// Builds the index in O(rows + n). Throws error(invalid_argument) naming the
/// row when the tree is not a condensed tree over n items: the root is not n,
/// an id is out of range, a cluster's child has an id not above its own, an
/// item or a cluster appears as a child other than exactly once.
condensed_index index_condensed_tree(std::span<const condensed_row> tree, std::size_t n);

}  // namespace chutoro::detail
