// chutoro — per-node arrays over a condensed tree (see condensed_index.hpp).
#include "core/hierarchy/condensed_index.hpp"

#include <chutoro/error.hpp>
#include <cmath>
#include <string>

namespace chutoro::detail {

namespace {

[[noreturn]] void bad_row(std::size_t row, const std::string& what) {
  throw error(error_code::invalid_argument, "condensed tree row " + std::to_string(row) + ": " + what +
                                                " (expected the output of condense_tree)");
}

}  // namespace

condensed_index index_condensed_tree(std::span<const condensed_row> tree, std::size_t n) {
  expects(n >= 2, error_code::invalid_argument,
          "condensed tree: needs at least 2 items, got n = " + std::to_string(n));
  expects(!tree.empty(), error_code::invalid_argument,
          "condensed tree: no rows for n = " + std::to_string(n));

  const auto first_cluster = static_cast<std::int64_t>(n);
  std::int64_t last_cluster = first_cluster;
  for (std::size_t r = 0; r < tree.size(); ++r) {
    if (tree[r].parent < first_cluster)
      bad_row(r, "parent " + std::to_string(tree[r].parent) + " is below n");
    if (tree[r].parent > last_cluster) last_cluster = tree[r].parent;
  }

  condensed_index ix;
  ix.n = n;
  ix.n_clusters = static_cast<std::size_t>(last_cluster - first_cluster) + 1;
  const std::size_t nc = ix.n_clusters;
  ix.point_parent.assign(n, -1);
  ix.point_lambda.assign(n, 0.0);
  ix.parent.assign(nc, -1);
  ix.birth.assign(nc, 0.0);
  ix.max_lambda.assign(nc, 0.0);
  ix.child_begin.assign(nc + 1, 0);

  for (std::size_t r = 0; r < tree.size(); ++r) {
    const condensed_row& row = tree[r];
    const double lambda = row.lambda_val;
    if (std::isnan(lambda) || lambda < 0) bad_row(r, "lambda is NaN or negative");
    const std::size_t p = ix.cluster_index(row.parent);
    if (lambda > ix.max_lambda[p]) ix.max_lambda[p] = lambda;
    if (lambda > ix.tree_max_lambda) ix.tree_max_lambda = lambda;
    if (row.child < 0) bad_row(r, "negative child id");
    if (row.child < first_cluster) {
      const auto x = static_cast<std::size_t>(row.child);
      if (ix.point_parent[x] != -1) bad_row(r, "item " + std::to_string(x) + " appears twice");
      ix.point_parent[x] = row.parent;
      ix.point_lambda[x] = lambda;
    } else {
      if (row.child <= row.parent || row.child > last_cluster) {
        bad_row(r, "child cluster " + std::to_string(row.child) + " must lie in (parent, largest parent]");
      }
      const std::size_t c = ix.cluster_index(row.child);
      if (ix.parent[c] != -1)
        bad_row(r, "cluster " + std::to_string(row.child) + " appears twice as a child");
      ix.parent[c] = row.parent;
      ix.birth[c] = lambda;
      ++ix.child_begin[p + 1];
    }
  }
  for (std::size_t x = 0; x < n; ++x) {
    if (ix.point_parent[x] == -1) {
      throw error(error_code::invalid_argument,
                  "condensed tree: item " + std::to_string(x) +
                      " never leaves a cluster (expected the output of condense_tree)");
    }
  }
  for (std::size_t c = 1; c < nc; ++c) {
    if (ix.parent[c] == -1) {
      throw error(error_code::invalid_argument,
                  "condensed tree: cluster " + std::to_string(first_cluster + static_cast<std::int64_t>(c)) +
                      " has no parent (expected the output of condense_tree)");
    }
  }

  for (std::size_t c = 0; c < nc; ++c) ix.child_begin[c + 1] += ix.child_begin[c];
  ix.children.resize(ix.child_begin[nc]);
  std::vector<std::size_t> fill(ix.child_begin.begin(), ix.child_begin.end() - 1);
  for (const condensed_row& row : tree) {
    if (row.child >= first_cluster) ix.children[fill[ix.cluster_index(row.parent)]++] = row.child;
  }
  return ix;
}

}  // namespace chutoro::detail
