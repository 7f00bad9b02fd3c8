// chutoro — persistence-based simplification of the condensed tree (hdbscan
// 0.8.40's `simplify_hierarchy`) and the DBSCAN* flat cut of the
// single-linkage tree (hdbscan's `labelling_at_cut`).
#include <algorithm>
#include <chutoro/error.hpp>
#include <cmath>
#include <limits>
#include <string>

#include "core/hierarchy/hierarchy.hpp"
#include "core/mst/union_find.hpp"

namespace chutoro::detail {

namespace {

float to_float32(double x) noexcept {
  if (!(std::fabs(x) <= static_cast<double>(std::numeric_limits<float>::max()))) {
    if (std::isnan(x)) return std::numeric_limits<float>::quiet_NaN();
    // beyond FLT_MAX (+ half an ulp) a C cast rounds to infinity
    if (std::fabs(x) >= 0x1.ffffffp127)
      return std::copysign(std::numeric_limits<float>::infinity(), static_cast<float>(x > 0 ? 1 : -1));
    return std::copysign(std::numeric_limits<float>::max(), static_cast<float>(x > 0 ? 1 : -1));
  }
  return static_cast<float>(x);
}

}  // namespace

std::vector<condensed_row> simplify_hierarchy(std::span<const condensed_row> tree, std::size_t n,
                                              double persistence) {
  expects(!std::isnan(persistence) && persistence >= 0, error_code::invalid_argument,
          "cluster_selection_persistence must be >= 0, got " + std::to_string(persistence));
  std::vector<condensed_row> out(tree.begin(), tree.end());
  const auto first = static_cast<std::int64_t>(n);
  // The rows creating clusters: pairs (left, right) of one split, in row order.
  std::vector<std::size_t> cluster_rows;
  for (std::size_t r = 0; r < tree.size(); ++r)
    if (tree[r].child >= first) cluster_rows.push_back(r);
  if (persistence == 0.0 || cluster_rows.empty()) return out;
  expects(cluster_rows.size() % 2 == 0, error_code::invalid_argument,
          "simplify_hierarchy: the condensed tree's clusters do not come in sibling pairs");
  const std::int64_t nodes = tree[cluster_rows.back()].child + 1 - first;  // clusters, the root included
  const auto at = [&](std::int64_t id) { return static_cast<std::size_t>(id - first); };

  std::vector<char> leaf(static_cast<std::size_t>(nodes), 1);
  for (const std::size_t r : cluster_rows) leaf[at(tree[r].parent)] = 0;
  // hdbscan's max_births (float32): the lambda of the last row of each parent,
  // then raised to the largest of its children's.
  std::vector<float> death(static_cast<std::size_t>(nodes), 0.0f);
  for (const condensed_row& row : tree) death[at(row.parent)] = to_float32(row.lambda_val);
  std::vector<std::int64_t> parent_map(static_cast<std::size_t>(nodes));
  for (std::int64_t c = 0; c < nodes; ++c) parent_map[static_cast<std::size_t>(c)] = first + c;
  std::vector<float> lambda_of(static_cast<std::size_t>(nodes), 0.0f);  // hdbscan's lambda_map
  std::vector<char> has_lambda(static_cast<std::size_t>(nodes), 0);

  // Splits bottom-up (later rows are deeper): a split whose less persistent
  // child lives less than `persistence` (in lambda) is undone.
  for (std::size_t k = cluster_rows.size(); k >= 2; k -= 2) {
    const condensed_row& right = tree[cluster_rows[k - 1]];
    const condensed_row& left = tree[cluster_rows[k - 2]];
    const std::int64_t parent = right.parent;
    const float split = to_float32(right.lambda_val);
    const float births[2] = {death[at(left.child)], death[at(right.child)]};
    death[at(parent)] = std::max(death[at(parent)], std::max(births[0], births[1]));
    if (static_cast<float>(std::min(births[0], births[1]) - split) >= persistence) continue;
    const int sibling = births[0] <= births[1] ? 1 : 0;  // the more persistent child
    const std::int64_t kids[2] = {left.child, right.child};
    if (leaf[at(kids[sibling])]) {
      leaf[at(parent)] = 1;
    } else {
      lambda_of[at(kids[1 - sibling])] = split;
      has_lambda[at(kids[1 - sibling])] = 1;
    }
    parent_map[at(kids[0])] = parent;
    parent_map[at(kids[1])] = parent;
  }
  // Resolve chains (parents have smaller ids), then renumber consecutively.
  std::vector<char> skipped(static_cast<std::size_t>(nodes), 0);
  std::vector<std::int64_t> skipped_before(static_cast<std::size_t>(nodes) + 1, 0);
  for (std::size_t c = 0; c < static_cast<std::size_t>(nodes); ++c)
    parent_map[c] = parent_map[at(parent_map[c])];
  for (std::size_t c = 0; c < static_cast<std::size_t>(nodes); ++c) {
    skipped[c] = static_cast<char>(parent_map[c] != first + static_cast<std::int64_t>(c));
    skipped_before[c + 1] = skipped_before[c] + skipped[c];
    parent_map[c] -= skipped_before[at(parent_map[c])];
  }
  std::size_t kept = 0;
  for (std::size_t r = 0; r < tree.size(); ++r) {
    const condensed_row& row = tree[r];
    if (row.child >= first && skipped[at(row.child)]) continue;
    condensed_row o = row;
    const std::size_t p = at(row.parent);
    // hdbscan passes every kept row's lambda through a C float.
    o.lambda_val = static_cast<double>(has_lambda[p] ? lambda_of[p] : to_float32(row.lambda_val));
    o.parent = parent_map[p];
    if (row.child >= first) o.child = parent_map[at(row.child)];
    out[kept++] = o;
  }
  out.resize(kept);
  return out;
}

std::vector<std::int32_t> labelling_at_cut(std::span<const linkage_row> slt, double cut_distance,
                                           std::size_t min_cluster_size) {
  expects(!std::isnan(cut_distance), error_code::invalid_argument, "cut_distance must not be NaN");
  const std::size_t n = slt.size() + 1;
  // Items joined by merges below the cut form a group.
  union_find sets(n);
  std::vector<std::uint32_t> member(2 * n - 1);  // an item of each single-linkage node
  for (std::size_t x = 0; x < n; ++x) member[x] = static_cast<std::uint32_t>(x);
  for (std::size_t r = 0; r < slt.size(); ++r) {
    const auto a = member[static_cast<std::size_t>(slt[r].left)];
    const auto b = member[static_cast<std::size_t>(slt[r].right)];
    member[n + r] = a;
    if (slt[r].distance < cut_distance) {
      const auto ra = sets.find(a), rb = sets.find(b);
      if (ra != rb) sets.unite(ra, rb);
    }
  }
  // Groups of at least min_cluster_size items get labels 0, 1, ... in the
  // order of their first item; the others are noise.
  std::vector<std::int32_t> label_of_root(n, -2);
  std::vector<std::int32_t> labels(n, -1);
  std::int32_t next = 0;
  for (std::size_t x = 0; x < n; ++x) {
    const auto root = sets.find(static_cast<std::uint32_t>(x));
    if (label_of_root[root] == -2)
      label_of_root[root] = sets.set_size(root) >= min_cluster_size ? next++ : -1;
    labels[x] = label_of_root[root];
  }
  return labels;
}

}  // namespace chutoro::detail
