// test_exact_tree.cpp — the exact mode's kd-tree path (src/core/mst/exact_tree.hpp)
// against the all-pairs exact path (exact_core_distances + exact_prim), which
// test_exact_oracle.cpp checks against the independent reference.
//
// What the tests prove:
//  - ExactTree.MatchesAllPairs/*: for euclidean and manhattan over d in
//    {1, 2, 3, 5, 8, 16}, n in {300, 1500} and min_samples in {1, 2, 5, 15}, the
//    tree path gives bit-identical core distances, the identical edge list
//    (same pairs, same weights, same order), hence the same MST weight, and
//    identical labels after extraction;
//  - ExactTree.Duplicates*: the same on data full of exact ties: repeated
//    rows, integer grids, and all items equal (the strict (weight, a, b)
//    order makes the tree unique, so the edges must still be identical);
//  - ExactTree.ThreadCountDoesNotMatter: 1 and 2 threads give the same tree;
//  - ExactTree.PipelineUsesTree: fit(candidates = exact) at d = 2 above
//    exact_tree_min_items goes through the tree (fewer distance computations
//    than all pairs) and still equals the all-pairs tree and labels.
#include <gtest/gtest.h>
#include <omp.h>

#include <chutoro/chutoro.hpp>
#include <cmath>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "core/backend/backend.hpp"
#include "core/distance_dispatch.hpp"
#include "core/mst/exact.hpp"
#include "core/mst/exact_tree.hpp"
#include "test_data.hpp"

namespace {

using chutoro::dense_metric;

chutoro::spanning_tree all_pairs_tree(const chutoro::data_source& src, std::size_t min_samples) {
  const std::size_t n = src.size();
  chutoro::detail::cpu_backend cpu;
  chutoro::spanning_tree t;
  t.n = n;
  t.core_distances = chutoro::detail::exact_core_distances(
      n, min_samples,
      [&](std::span<const std::uint32_t> r, std::span<const std::uint32_t> c, std::span<float> o) {
        cpu.distance_tile(src, r, c, o);
      });
  t.edges = chutoro::detail::with_distance(
      src, [&](const auto& dist) { return chutoro::detail::exact_prim(n, t.core_distances, dist); });
  return t;
}

chutoro::spanning_tree tree_path(const chutoro::data_source& src, std::size_t min_samples,
                                 chutoro::detail::exact_tree_counters* out = nullptr) {
  chutoro::detail::exact_tree_counters c;
  auto t = chutoro::detail::exact_tree_spanning_tree(src, min_samples, c);
  if (out) *out = c;
  return t;
}

double total(const chutoro::spanning_tree& t) {
  double s = 0;
  for (const auto& e : t.edges) s += e.distance;
  return s;
}

/// Asserts that the two trees are identical (core distances, edges) and cluster alike.
void expect_same(const chutoro::spanning_tree& tree, const chutoro::spanning_tree& ref,
                 const std::string& what) {
  ASSERT_EQ(tree.n, ref.n) << what;
  ASSERT_EQ(tree.core_distances.size(), ref.core_distances.size()) << what;
  for (std::size_t i = 0; i < ref.n; ++i)
    ASSERT_EQ(tree.core_distances[i], ref.core_distances[i]) << what << ": core distance of item " << i;
  ASSERT_EQ(tree.edges.size(), ref.edges.size()) << what;
  const double a = total(tree), b = total(ref);
  EXPECT_LE(std::fabs(a - b), 1e-6 * std::max(std::fabs(a), std::fabs(b))) << what << ": MST weight";
  for (std::size_t e = 0; e < ref.edges.size(); ++e) {
    ASSERT_EQ(tree.edges[e].a, ref.edges[e].a) << what << ": edge " << e;
    ASSERT_EQ(tree.edges[e].b, ref.edges[e].b) << what << ": edge " << e;
    ASSERT_EQ(tree.edges[e].distance, ref.edges[e].distance) << what << ": edge " << e;
  }
  chutoro::selection_params sp;
  sp.min_cluster_size = 5;
  EXPECT_EQ(chutoro::extract_clusters(tree, sp).labels, chutoro::extract_clusters(ref, sp).labels) << what;
}

using grid_case = std::tuple<dense_metric, std::size_t /*d*/, std::size_t /*n*/>;

class ExactTreeGrid : public ::testing::TestWithParam<grid_case> {};

TEST_P(ExactTreeGrid, MatchesAllPairs) {
  const auto [metric, d, n] = GetParam();
  const auto data = chutoro_test::make_blobs(n, d, 4, 0.1, 1000 + 31 * d + n);
  const chutoro::dense_source src(data.values, n, d, metric);
  for (std::size_t ms : {1u, 2u, 5u, 15u}) {
    const std::string what = std::string(chutoro::to_string(metric)) + " d=" + std::to_string(d) +
                             " n=" + std::to_string(n) + " min_samples=" + std::to_string(ms);
    expect_same(tree_path(src, ms), all_pairs_tree(src, ms), what);
  }
}

INSTANTIATE_TEST_SUITE_P(
    ExactTree, ExactTreeGrid,
    ::testing::Combine(::testing::Values(dense_metric::euclidean, dense_metric::manhattan),
                       ::testing::Values(1u, 2u, 3u, 5u, 8u, 16u), ::testing::Values(300u, 1500u)));

TEST(ExactTree, DuplicateRows) {
  // Blobs whose rows are repeated 1-4 times, in a shuffled order.
  const auto base = chutoro_test::make_blobs(400, 3, 3, 0.05, 7);
  std::mt19937_64 rng(11);
  std::vector<float> values;
  for (std::size_t i = 0; i < base.n; ++i)
    for (std::size_t r = 0, reps = 1 + rng() % 4; r < reps; ++r)
      values.insert(values.end(), base.values.begin() + i * 3, base.values.begin() + (i + 1) * 3);
  const std::size_t n = values.size() / 3;
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<float> shuffled(values.size());
  for (std::size_t i = 0; i < n; ++i) std::copy_n(&values[order[i] * 3], 3, &shuffled[i * 3]);
  for (dense_metric m : {dense_metric::euclidean, dense_metric::manhattan}) {
    const chutoro::dense_source src(shuffled, n, 3, m);
    for (std::size_t ms : {1u, 2u, 4u, 10u})
      expect_same(tree_path(src, ms), all_pairs_tree(src, ms),
                  std::string("duplicates ") + std::string(chutoro::to_string(m)) +
                      " min_samples=" + std::to_string(ms));
  }
}

TEST(ExactTree, IntegerGridTies) {
  // Small integer coordinates: most distances and core distances tie.
  std::mt19937_64 rng(5);
  for (std::size_t d : {1u, 2u, 4u}) {
    const std::size_t n = 900;
    std::vector<float> v(n * d);
    for (float& x : v) x = static_cast<float>(rng() % 7);
    for (dense_metric m : {dense_metric::euclidean, dense_metric::manhattan}) {
      const chutoro::dense_source src(v, n, d, m);
      for (std::size_t ms : {1u, 3u, 8u})
        expect_same(tree_path(src, ms), all_pairs_tree(src, ms),
                    "grid d=" + std::to_string(d) + " " + std::string(chutoro::to_string(m)) +
                        " min_samples=" + std::to_string(ms));
    }
  }
}

TEST(ExactTree, AllItemsEqual) {
  const std::vector<float> v(600 * 2, 1.5f);
  const chutoro::dense_source src(v, 600, 2, dense_metric::euclidean);
  for (std::size_t ms : {1u, 5u}) expect_same(tree_path(src, ms), all_pairs_tree(src, ms), "all equal");
}

TEST(ExactTree, ThreadCountDoesNotMatter) {
  const auto data = chutoro_test::make_blobs(3000, 2, 5, 0.1, 3);
  const chutoro::dense_source src(data.values, data.n, 2, dense_metric::euclidean);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto one = tree_path(src, 5);
  omp_set_num_threads(2);
  const auto two = tree_path(src, 5);
  omp_set_num_threads(saved);
  expect_same(two, one, "threads 2 vs 1");
}

TEST(ExactTree, PipelineUsesTree) {
  const std::size_t n = 4000;
  ASSERT_TRUE(chutoro::detail::exact_tree_preferred(n, 2));
  const auto data = chutoro_test::make_blobs(n, 2, 6, 0.1, 9);
  const chutoro::dense_source src(data.values, n, 2, dense_metric::manhattan);
  chutoro::params p;
  p.build.candidates = chutoro::candidate_mode::exact;
  p.build.min_samples = 7;
  p.selection.min_cluster_size = 20;
  const chutoro::result r = chutoro::fit(src, p);
  // All pairs would measure n (n - 1) pairs for core distances alone.
  EXPECT_LT(r.stats.distance_computations, std::uint64_t(n) * (n - 1) / 4);
  const auto ref = all_pairs_tree(src, 7);
  expect_same(r.tree, ref, "pipeline");
  EXPECT_EQ(r.labels, chutoro::extract_clusters(ref, p.selection).labels);
}

}  // namespace
