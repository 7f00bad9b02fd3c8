// chutoro — condensed tree and cluster stability (hdbscan's `condense_tree`
// and `compute_stability`).
#include <chutoro/error.hpp>
#include <limits>
#include <string>

#include "core/hierarchy/condensed_index.hpp"
#include "core/hierarchy/hierarchy.hpp"

namespace chutoro::detail {

namespace {

// Checks that slt is a binary merge tree over n = slt.size() + 1 items whose
// row r only refers to ids below n + r, each id used once.
void check_linkage(std::span<const linkage_row> slt) {
  const auto n = static_cast<std::int64_t>(slt.size()) + 1;
  std::vector<char> used(2 * slt.size() + 1, 0);
  for (std::size_t r = 0; r < slt.size(); ++r) {
    const linkage_row& row = slt[r];
    const std::int64_t id = n + static_cast<std::int64_t>(r);
    for (const std::int64_t side : {row.left, row.right}) {
      if (side < 0 || side >= id || used[static_cast<std::size_t>(side)]) {
        throw error(error_code::invalid_argument,
                    "single-linkage row " + std::to_string(r) + ": child " + std::to_string(side) +
                        " is out of range or merged twice (expected the output of single_linkage)");
      }
      used[static_cast<std::size_t>(side)] = 1;
    }
    const auto count = [&](std::int64_t x) { return x < n ? std::int64_t{1} : slt[x - n].size; };
    if (row.size != count(row.left) + count(row.right)) {
      throw error(error_code::invalid_argument, "single-linkage row " + std::to_string(r) + ": size " +
                                                    std::to_string(row.size) +
                                                    " is not the sum of its children's sizes");
    }
  }
}

}  // namespace

std::vector<condensed_row> condense_tree(std::span<const linkage_row> slt, std::size_t min_cluster_size) {
  expects(min_cluster_size >= 2, error_code::invalid_argument,
          "condense_tree: min_cluster_size must be >= 2, got " + std::to_string(min_cluster_size));
  if (slt.empty()) return {};
  check_linkage(slt);

  const auto n = static_cast<std::int64_t>(slt.size()) + 1;
  // No side of a split has more than n items: a larger min_cluster_size acts
  // as n + 1 (and must not wrap to a negative int64).
  const std::int64_t mcs =
      min_cluster_size > static_cast<std::size_t>(n) ? n + 1 : static_cast<std::int64_t>(min_cluster_size);
  const auto count = [&](std::int64_t x) { return x < n ? std::int64_t{1} : slt[x - n].size; };

  std::vector<condensed_row> out;
  out.reserve(static_cast<std::size_t>(n) + 2 * (static_cast<std::size_t>(n) / min_cluster_size) + 2);

  // Breadth-first over the merges that carry a cluster; a merge's
  // condensed-tree id is relabel[merge - n]. Restricting hdbscan's full
  // breadth-first order to these merges keeps their relative order.
  std::vector<std::int64_t> relabel(slt.size());
  std::vector<std::int64_t> queue;
  queue.reserve(slt.size());
  std::vector<std::int64_t> fallen;  // breadth-first walk of a subtree whose items fall out

  const auto fall_out = [&](std::int64_t sub, std::int64_t parent, double lambda) {
    fallen.clear();
    fallen.push_back(sub);
    for (std::size_t head = 0; head < fallen.size(); ++head) {
      const std::int64_t x = fallen[head];
      if (x < n) {
        out.push_back({parent, x, lambda, 1});
      } else {
        fallen.push_back(slt[x - n].left);
        fallen.push_back(slt[x - n].right);
      }
    }
  };

  const std::int64_t root = 2 * n - 2;
  relabel[root - n] = n;
  std::int64_t next_label = n + 1;
  queue.push_back(root);
  for (std::size_t head = 0; head < queue.size(); ++head) {
    const std::int64_t node = queue[head];
    const linkage_row& row = slt[node - n];
    const std::int64_t label = relabel[node - n];
    const double lambda = row.distance > 0.0 ? 1.0 / row.distance : std::numeric_limits<double>::infinity();
    const std::int64_t left_count = count(row.left);
    const std::int64_t right_count = count(row.right);
    const bool left_big = left_count >= mcs;
    const bool right_big = right_count >= mcs;

    if (left_big && right_big) {  // a true split: two new clusters, left first
      relabel[row.left - n] = next_label++;
      out.push_back({label, relabel[row.left - n], lambda, left_count});
      relabel[row.right - n] = next_label++;
      out.push_back({label, relabel[row.right - n], lambda, right_count});
      queue.push_back(row.left);
      queue.push_back(row.right);
    } else if (!left_big && !right_big) {  // the cluster vanishes: all its items fall out
      fall_out(row.left, label, lambda);
      fall_out(row.right, label, lambda);
    } else if (!left_big) {  // the right side goes on as the same cluster
      relabel[row.right - n] = label;
      fall_out(row.left, label, lambda);
      queue.push_back(row.right);
    } else {  // the left side goes on as the same cluster
      relabel[row.left - n] = label;
      fall_out(row.right, label, lambda);
      queue.push_back(row.left);
    }
  }
  return out;
}

std::vector<double> cluster_stability(std::span<const condensed_row> tree, std::size_t n) {
  const condensed_index ix = index_condensed_tree(tree, n);
  std::vector<double> stability(ix.n_clusters, 0.0);
  for (const condensed_row& row : tree) {
    const std::size_t p = ix.cluster_index(row.parent);
    stability[p] += (row.lambda_val - ix.birth[p]) * static_cast<double>(row.child_size);
  }
  return stability;
}

}  // namespace chutoro::detail
