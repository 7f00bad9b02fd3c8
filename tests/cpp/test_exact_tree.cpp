// test_exact_tree.cpp — the exact mode's kd-tree path (src/core/mst/exact_tree.hpp)
// against the all-pairs exact path (exact_core_distances + exact_prim), which
// test_exact_oracle.cpp checks against the independent reference.
//
// What the tests prove:
//  - ExactTree.MatchesAllPairs/*: for euclidean and manhattan over d in
//    {1, 2, 3, 5, 8, 16}, n in {300, 1000} and min_samples in {1, 2, 5, 15}, the
//    tree path gives bit-identical core distances, the identical edge list
//    (same pairs, same weights, same order), hence the same MST weight, and
//    identical labels after extraction;
//  - ExactTree.Duplicates*: the same on data full of exact ties: repeated
//    rows, integer grids, and all items equal (the strict (weight, a, b)
//    order makes the tree unique, so the edges must still be identical);
//  - ExactTree.ThreadCountDoesNotMatter: 1 and 2 threads give the same tree;
//  - ExactTree.PipelineUsesTree: fit(candidates = exact) at d = 2 above
//    exact_tree_min_items goes through the tree (fewer distance computations
//    than all pairs) and still equals the all-pairs tree and labels;
//  - CandidatesAuto.*: "auto" parses, names and validates; the rule picks
//    exact (kd-tree) at low dimension for euclidean/manhattan at any n, exact
//    (all pairs) up to auto_all_pairs_max_items, hnsw above, and keeps explicit
//    choices; fit_stats::candidates reports the choice; an auto model that
//    grows past the all-pairs limit turns hnsw (explicit exact stays exact),
//    and model files keep both the resolved mode and "auto".
#include <gtest/gtest.h>
#include <omp.h>

#include <chutoro/chutoro.hpp>
#include <chutoro/model.hpp>
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
                       ::testing::Values(1u, 2u, 3u, 5u, 8u, 16u), ::testing::Values(300u, 1000u)));

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

// ---- candidates = auto

TEST(CandidatesAuto, ParseNamesAndValidation) {
  EXPECT_EQ(chutoro::parse_candidate_mode("auto"), chutoro::candidate_mode::auto_select);
  EXPECT_EQ(chutoro::to_string(chutoro::candidate_mode::auto_select), "auto");
  EXPECT_EQ(static_cast<int>(chutoro::candidate_mode::auto_select), 2);
  EXPECT_EQ(chutoro::build_params{}.candidates, chutoro::candidate_mode::auto_select);  // the default
  chutoro::params p;
  p.build.candidates = static_cast<chutoro::candidate_mode>(7);
  try {
    chutoro::validate(p);
    ADD_FAILURE() << "validate accepted candidates = 7";
  } catch (const chutoro::error& e) {
    EXPECT_NE(std::string(e.what()).find("candidates"), std::string::npos) << e.what();
  }
}

chutoro::candidate_mode ran(const chutoro::data_source& src, chutoro::candidate_mode asked) {
  chutoro::params p;
  p.build.candidates = asked;
  p.build.min_samples = 5;
  p.selection.min_cluster_size = 10;
  return chutoro::fit(src, p).stats.candidates;
}

TEST(CandidatesAuto, TheRule) {
  using chutoro::candidate_mode;
  using chutoro::detail::resolve_candidates;
  const auto a = candidate_mode::auto_select;
  const std::size_t big = chutoro::detail::auto_all_pairs_max_items + 1;
  const std::size_t hd = chutoro::detail::auto_tree_max_dim + 1;
  const auto low = chutoro_test::make_blobs(big, 2, 4, 0.1, 1);
  const auto high = chutoro_test::make_blobs(big, hd, 4, 0.1, 2);
  const chutoro::dense_source low_l2(low.values, big, 2, dense_metric::euclidean);
  const chutoro::dense_source low_cos(low.values, big, 2, dense_metric::cosine);
  // Low dimension, euclidean or manhattan: exact by kd-tree at any size.
  EXPECT_EQ(resolve_candidates(a, low_l2), candidate_mode::exact);
  EXPECT_EQ(resolve_candidates(a, chutoro::dense_source(low.values, big, 2, dense_metric::manhattan)),
            candidate_mode::exact);
  // No kd-tree (cosine, or too many dimensions): hnsw above the all-pairs limit, exact up to it.
  EXPECT_EQ(resolve_candidates(a, low_cos), candidate_mode::hnsw);
  EXPECT_EQ(resolve_candidates(a, chutoro::dense_source(high.values, big, hd, dense_metric::euclidean)),
            candidate_mode::hnsw);
  const std::size_t small = big - 1;
  EXPECT_EQ(resolve_candidates(a, chutoro::dense_source(std::span<const float>(high.values).first(small * hd),
                                                        small, hd, dense_metric::euclidean)),
            candidate_mode::exact);
  // An explicit choice is kept.
  EXPECT_EQ(resolve_candidates(candidate_mode::hnsw, low_l2), candidate_mode::hnsw);
  EXPECT_EQ(resolve_candidates(candidate_mode::exact, low_cos), candidate_mode::exact);
  // fit reports what ran.
  EXPECT_EQ(ran(low_l2, a), candidate_mode::exact);
  EXPECT_EQ(ran(low_cos, a), candidate_mode::hnsw);
}

TEST(CandidatesAuto, GrowingModelTurnsHnswAndFilesKeepIt) {
  using chutoro::candidate_mode;
  const std::size_t d = chutoro::detail::auto_tree_max_dim + 4;  // no kd-tree: all pairs while small
  const std::size_t first = 1000, more = chutoro::detail::auto_all_pairs_max_items;
  const auto data = chutoro_test::make_blobs(first + more, d, 4, 0.1, 3);
  const std::span<const float> v(data.values);
  chutoro::params p;
  p.build.min_samples = 5;
  p.selection.min_cluster_size = 10;
  auto src = std::make_shared<chutoro::dense_source>(v.first(first * d), first, d, dense_metric::euclidean);
  chutoro::model m(src, p);
  EXPECT_EQ(m.stats().candidates, candidate_mode::exact);
  EXPECT_EQ(m.parameters().build.candidates, candidate_mode::auto_select);
  // An auto model that is exact is saved as such and stays auto.
  {
    const chutoro::model back = chutoro::model::from_bytes(m.to_bytes());
    EXPECT_EQ(back.stats().candidates, candidate_mode::exact);
    EXPECT_EQ(back.parameters().build.candidates, candidate_mode::auto_select);
    EXPECT_EQ(back.clusters().labels, m.clusters().labels);
  }
  // Past the all-pairs limit it builds an HNSW graph over all items and stays hnsw.
  m.add(chutoro::dense_source(v.subspan(first * d, more * d), more, d, dense_metric::euclidean));
  EXPECT_EQ(m.size(), first + more);
  EXPECT_EQ(m.stats().candidates, candidate_mode::hnsw);
  EXPECT_GT(m.stats().compactions + m.stats().candidate_edges, 0u);
  EXPECT_EQ(m.parameters().build.candidates, candidate_mode::auto_select);
  chutoro::model back = chutoro::model::from_bytes(m.to_bytes());
  EXPECT_EQ(back.stats().candidates, candidate_mode::hnsw);
  EXPECT_EQ(back.parameters().build.candidates, candidate_mode::auto_select);
  EXPECT_EQ(back.clusters().labels, m.clusters().labels);
  back.add(chutoro::dense_source(v.first(10 * d), 10, d, dense_metric::euclidean));
  EXPECT_EQ(back.stats().candidates, candidate_mode::hnsw);
  // An explicit exact model stays exact when it grows.
  p.build.candidates = candidate_mode::exact;
  auto src2 = std::make_shared<chutoro::dense_source>(v.first(first * d), first, d, dense_metric::euclidean);
  chutoro::model e(src2, p);
  e.add(chutoro::dense_source(v.subspan(first * d, more * d), more, d, dense_metric::euclidean));
  EXPECT_EQ(e.stats().candidates, candidate_mode::exact);
}

}  // namespace
