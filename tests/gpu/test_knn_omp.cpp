// test_knn_omp.cpp — the GPU candidate generator (src/cuda/knn.cuh: exact kNN
// graph by tiles, Borůvka forest, exact join of its components), built with
// the host compiler for Thrust's OpenMP device system and checked against
// the CPU. The same source runs on a GPU in the CUDA module.
//
// What the tests prove:
//  - GpuKnn.ListsEqualBruteForce: on jittered blobs (euclidean, manhattan,
//    cosine, angular) and on integer data with many ties, every item's k
//    neighbours are those of a brute-force kNN over the CPU's distances
//    (data_source::distance), ordered by (distance, id): same ids, distances
//    within 1e-5 relative, so only near-ties may swap (>= 99% of ids equal;
//    bit-identical on integer data, where every distance is exact).
//  - GpuKnn.CompleteGraphEqualsExact: with k = n - 1 the tree is the GPU
//    exact stage's bit for bit and has the CPU exact oracle's edges and labels.
//  - GpuKnn.AriOnBlobs / GpuKnn.AriOnSharedData: ARI vs the CPU exact
//    oracle >= 0.99 at the default k (2 min_samples) on blobs and on the
//    shared data sets clusterable_data.npy and digits.csv; core distances
//    equal the exact ones.
//  - GpuKnn.DisconnectedGraphJoined: two far blobs with k = 2: the kNN graph
//    has several components; the tree spans them, its weight equals the CPU
//    forest's (Filter-Kruskal) over the kNN edges plus the tree's join edges
//    (so the kNN part is a minimum spanning forest), there are components - 1
//    joins, and the bridge to the far blob is the exact tree's heaviest edge,
//    splitting off exactly the far blob.
//  - GpuKnn.SameResultOnAnyTileShapeAndThreadCount: tiles of 5 and all
//    columns, heaps of 3 rows or all, 1 or all threads: the same bytes.
//  - GpuKnn.SmallInputsAndBadInput: 1 to 5 items; a bad k is refused.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <chutoro/chutoro.hpp>
#include <cmath>
#include <cstddef>
#include <map>
#include <memory>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "core/backend/backend.hpp"
#include "core/mst/candidate_graph.hpp"
#include "cuda/knn.cuh"
#include "test_data.hpp"

namespace {

namespace cd = chutoro::cuda_detail;
using cd::exact_metric;

std::shared_ptr<chutoro::data_source> make_source(const chutoro_test::dense_data& d, exact_metric m) {
  switch (m) {
    case exact_metric::manhattan:
      return std::make_shared<chutoro::dense_source>(d.values, d.n, d.dim, chutoro::dense_metric::manhattan);
    case exact_metric::cosine:
      return std::make_shared<chutoro::dense_source>(d.values, d.n, d.dim, chutoro::dense_metric::cosine);
    case exact_metric::angular:
      return std::make_shared<chutoro::product_source>(d.values, d.n, d.dim,
                                                       chutoro::product_metric::angular);
    case exact_metric::euclidean:
    default:
      return std::make_shared<chutoro::dense_source>(d.values, d.n, d.dim, chutoro::dense_metric::euclidean);
  }
}

cd::exact_input input_of(const chutoro::data_source& src, exact_metric m, std::size_t min_samples) {
  const chutoro::matrix_view v = *src.matrix();
  cd::exact_input in;
  in.rows = std::span<const float>(static_cast<const float*>(v.data), v.rows * v.stride);
  in.n = v.rows;
  in.dim = v.cols;
  in.stride = v.stride;
  in.metric = m;
  in.min_samples = min_samples;
  return in;
}

chutoro::spanning_tree cpu_exact(const chutoro::data_source& src, std::size_t min_samples) {
  chutoro::build_params bp;
  bp.candidates = chutoro::candidate_mode::exact;
  bp.min_samples = min_samples;
  chutoro::fit_stats stats;
  const auto cpu = chutoro::detail::shared_cpu_backend();
  const auto scope = cpu->enter(0);
  return cpu->build_exact(src, bp, stats, {});
}

chutoro::spanning_tree as_tree(const std::vector<float>& core, const std::vector<cd::forest_edge>& edges) {
  chutoro::spanning_tree s;
  s.n = core.size();
  s.core_distances = core;
  for (const auto& e : edges) s.edges.push_back({e.a, e.b, static_cast<double>(e.d)});
  return s;
}

std::vector<std::int32_t> labels_of(const chutoro::spanning_tree& t, std::size_t min_cluster_size) {
  chutoro::selection_params sp;
  sp.min_cluster_size = min_cluster_size;
  return chutoro::extract_clusters(t, sp).labels;
}

bool near(double a, double b, double rel, double abs = 0) {
  return std::fabs(a - b) <= std::max(abs, rel * std::max(std::fabs(a), std::fabs(b)));
}

/// Brute-force kNN over the CPU's distances: row i's k nearest other items by (distance, id).
std::vector<std::pair<float, std::uint32_t>> brute_row(const chutoro::data_source& src, std::size_t i,
                                                       std::size_t k) {
  std::vector<std::pair<float, std::uint32_t>> all;
  for (std::size_t j = 0; j < src.size(); ++j)
    if (j != i) all.emplace_back(src.distance(i, j), static_cast<std::uint32_t>(j));
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end());
  all.resize(k);
  return all;
}

TEST(GpuKnn, ListsEqualBruteForce) {
  for (exact_metric m :
       {exact_metric::euclidean, exact_metric::manhattan, exact_metric::cosine, exact_metric::angular}) {
    const auto d = chutoro_test::make_blobs(300, 7, 4, 0.1, 7 + static_cast<int>(m));
    const auto src = make_source(d, m);
    cd::knn_options opt;
    opt.tile_cols = 37;  // several tiles, the last one short
    const cd::knn_lists got = cd::knn_graph(input_of(*src, m, 1), 12, opt);
    ASSERT_EQ(got.ids.size(), 300u * 12u);
    // The CPU's dense kernels add in another order (exact.cuh): distances
    // agree to 1e-5 relative (1 - <x, y> near 0 to a few float32 ulps of 1),
    // so only near-ties may swap ids; each slot's neighbour is at the rank's
    // distance, and almost every id is the brute force's.
    std::size_t same = 0;
    for (std::size_t i = 0; i < 300; ++i) {
      const auto want = brute_row(*src, i, 12);
      for (std::size_t s = 0; s < 12; ++s) {
        const std::uint32_t j = got.ids[i * 12 + s];
        same += j == want[s].second;
        ASSERT_TRUE(j != i && j < 300) << j;
        ASSERT_TRUE(near(got.dists[i * 12 + s], want[s].first, 1e-5, 1e-6))
            << "metric " << static_cast<int>(m) << " row " << i << " slot " << s << ": "
            << got.dists[i * 12 + s] << " vs " << want[s].first;
        ASSERT_TRUE(near(src->distance(i, j), want[s].first, 1e-5, 1e-6)) << "row " << i << " slot " << s;
      }
    }
    EXPECT_GE(same, 300u * 12u * 99 / 100) << "metric " << static_cast<int>(m);
  }
  // Integer coordinates with duplicates: distances exact, ties everywhere,
  // broken by id alike.
  chutoro_test::dense_data d;
  d.n = 200, d.dim = 3;
  for (std::size_t i = 0; i < d.n * d.dim; ++i) d.values.push_back(static_cast<float>((i * 7919) % 5));
  const auto src = make_source(d, exact_metric::manhattan);
  const cd::knn_lists got = cd::knn_graph(input_of(*src, exact_metric::manhattan, 1), 9);
  for (std::size_t i = 0; i < d.n; ++i) {
    const auto want = brute_row(*src, i, 9);
    for (std::size_t s = 0; s < 9; ++s) {
      ASSERT_EQ(got.ids[i * 9 + s], want[s].second) << "row " << i << " slot " << s;
      ASSERT_EQ(got.dists[i * 9 + s], want[s].first) << "row " << i << " slot " << s;
    }
  }
}

TEST(GpuKnn, CompleteGraphEqualsExact) {
  for (exact_metric m : {exact_metric::euclidean, exact_metric::angular}) {
    for (std::size_t ms : {1, 4}) {
      const auto d = chutoro_test::make_blobs(250, 5, 3, 0.1, 31 + ms);
      const auto src = make_source(d, m);
      const auto in = input_of(*src, m, ms);
      cd::knn_options opt;
      opt.k_graph = 249;
      const cd::knn_tree got = cd::knn_hdbscan(in, opt);
      EXPECT_EQ(got.k, 249u);
      EXPECT_EQ(got.knn_components, 1u);
      const cd::exact_tree want = cd::exact_hdbscan(in);
      ASSERT_EQ(got.core.size(), want.core.size());
      for (std::size_t i = 0; i < got.core.size(); ++i)
        ASSERT_EQ(std::bit_cast<std::uint32_t>(got.core[i]), std::bit_cast<std::uint32_t>(want.core[i])) << i;
      ASSERT_EQ(got.edges.size(), want.edges.size());
      for (std::size_t k = 0; k < got.edges.size(); ++k) {
        ASSERT_EQ(got.edges[k].a, want.edges[k].a) << k;
        ASSERT_EQ(got.edges[k].b, want.edges[k].b) << k;
        ASSERT_EQ(got.edges[k].d, want.edges[k].d) << k;
      }
      // And the CPU oracle's tree: the same edges, the same labels.
      const chutoro::spanning_tree cpu = cpu_exact(*src, ms);
      std::set<std::pair<std::int64_t, std::int64_t>> cpu_edges;
      for (const auto& e : cpu.edges) cpu_edges.insert({e.a, e.b});
      for (const auto& e : got.edges) EXPECT_TRUE(cpu_edges.count({e.a, e.b})) << e.a << "-" << e.b;
      EXPECT_EQ(labels_of(as_tree(got.core, got.edges), 10), labels_of(cpu, 10));
    }
  }
}

void expect_ari(const chutoro::data_source& src, exact_metric m, std::size_t ms, std::size_t mcs,
                double floor_ari) {
  const cd::knn_tree got = cd::knn_hdbscan(input_of(src, m, ms));
  const chutoro::spanning_tree want = cpu_exact(src, ms);
  for (std::size_t i = 0; i < got.core.size(); ++i)
    ASSERT_TRUE(near(got.core[i], want.core_distances[i], 1e-5)) << "core " << i;
  const auto a = labels_of(as_tree(got.core, got.edges), mcs), b = labels_of(want, mcs);
  ASSERT_GT(*std::max_element(b.begin(), b.end()), 0) << "the oracle finds clusters";
  const double ari = chutoro_test::adjusted_rand(a, b);
  ::testing::Test::RecordProperty("ari", std::to_string(ari));
  EXPECT_GE(ari, floor_ari) << "k " << got.k << ", kNN components " << got.knn_components;
}

TEST(GpuKnn, AriOnBlobs) {
  const auto d = chutoro_test::make_blobs(3000, 8, 6, 0.15, 2024);
  expect_ari(*make_source(d, exact_metric::euclidean), exact_metric::euclidean, 5, 25, 0.99);
  expect_ari(*make_source(d, exact_metric::manhattan), exact_metric::manhattan, 10, 25, 0.99);
}

TEST(GpuKnn, AriOnSharedData) {
  const auto clusterable = chutoro_test::load_npy(chutoro_test::data_path("clusterable_data.npy"));
  expect_ari(*make_source(clusterable, exact_metric::euclidean), exact_metric::euclidean, 5, 15, 0.99);
  const auto digits = chutoro_test::load_csv(chutoro_test::data_path("digits.csv"), true);
  expect_ari(*make_source(digits, exact_metric::euclidean), exact_metric::euclidean, 10, 20, 0.99);
}

TEST(GpuKnn, DisconnectedGraphJoined) {
  // Two tight blobs far apart, plus a third: k = 2 leaves the kNN graph in pieces.
  auto d = chutoro_test::make_blobs(600, 4, 3, 0.05, 99);
  for (std::size_t i = 0; i < 200; ++i) d.values[i * d.dim] += 1000.0f;
  const auto src = make_source(d, exact_metric::euclidean);
  const auto in = input_of(*src, exact_metric::euclidean, 2);
  cd::knn_options opt;
  opt.k_graph = 2;
  opt.tile_cols = 64;
  const cd::knn_tree got = cd::knn_hdbscan(in, opt);
  ASSERT_GT(got.knn_components, 2u) << "the case must need joins";
  ASSERT_EQ(got.edges.size(), 599u);

  // The kNN edges (CPU brute force, CPU distances) and the tree's edges that
  // are not among them (the joins).
  std::vector<chutoro::detail::raw_edge> knn, joins;
  std::set<std::pair<std::uint32_t, std::uint32_t>> in_knn;
  for (std::size_t i = 0; i < d.n; ++i)
    for (const auto& [dist, j] : brute_row(*src, i, 2)) {
      const auto a = static_cast<std::uint32_t>(std::min<std::size_t>(i, j)),
                 b = static_cast<std::uint32_t>(std::max<std::size_t>(i, j));
      knn.push_back({a, b, dist});
      in_knn.insert({a, b});
    }
  for (const auto& e : got.edges)
    if (!in_knn.count({e.a, e.b})) joins.push_back({e.a, e.b, src->distance(e.a, e.b)});
  EXPECT_EQ(joins.size(), got.knn_components - 1);
  const auto forest = chutoro::detail::minimum_spanning_forest(d.n, knn, joins, got.core);
  ASSERT_EQ(forest.size(), 599u) << "kNN edges plus joins span the items";
  double want_w = 0, got_w = 0;
  for (const auto& e : forest) want_w += std::max({got.core[e.a], got.core[e.b], e.d});
  for (const auto& e : got.edges) got_w += e.d;
  EXPECT_TRUE(near(got_w, want_w, 1e-6)) << got_w << " vs " << want_w;
  // The bridge to the far blob is the lightest edge between it and the rest:
  // the tree's heaviest edge, of the exact tree's heaviest weight, and
  // removing it leaves the far blob (items 0..199, shifted) on one side.
  const chutoro::spanning_tree want = cpu_exact(*src, 2);
  const auto bridge =
      std::max_element(got.edges.begin(), got.edges.end(),
                       [](const cd::forest_edge& x, const cd::forest_edge& y) { return x.d < y.d; });
  EXPECT_TRUE(near(bridge->d, want.edges.back().distance, 1e-5))
      << bridge->d << " vs " << want.edges.back().distance;
  EXPECT_TRUE((bridge->a < 200) != (bridge->b < 200)) << bridge->a << "-" << bridge->b;
  std::vector<std::uint32_t> label(d.n);
  std::iota(label.begin(), label.end(), 0u);
  const auto find = [&](std::uint32_t v) {
    while (label[v] != v) v = label[v] = label[label[v]];
    return v;
  };
  for (const auto& e : got.edges)
    if (&e != &*bridge) label[find(e.a)] = find(e.b);
  for (std::uint32_t i = 0; i < d.n; ++i) EXPECT_EQ(find(i) == find(0), i < 200) << i;
}

TEST(GpuKnn, SameResultOnAnyTileShapeAndThreadCount) {
  auto d = chutoro_test::make_blobs(400, 6, 5, 0.1, 5);
  for (std::size_t i = 0; i < 100; ++i) d.values[i * d.dim] += 500.0f;
  const auto src = make_source(d, exact_metric::euclidean);
  const auto in = input_of(*src, exact_metric::euclidean, 3);
  cd::knn_options base;
  base.k_graph = 3;
  const cd::knn_tree ref = cd::knn_hdbscan(in, base);
  for (int threads : {1, 0})
    for (std::size_t cols : {5, 0})
      for (std::size_t rows : {3, 0}) {
        const int saved = omp_get_max_threads();
        if (threads > 0) omp_set_num_threads(threads);
        cd::knn_options opt = base;
        opt.tile_cols = cols;
        if (rows > 0) opt.heap_bytes = rows * 8 * 3;
        const cd::knn_tree got = cd::knn_hdbscan(in, opt);
        omp_set_num_threads(saved);
        ASSERT_EQ(got.core, ref.core);
        ASSERT_EQ(got.edges.size(), ref.edges.size());
        for (std::size_t k = 0; k < got.edges.size(); ++k) {
          ASSERT_EQ(got.edges[k].a, ref.edges[k].a);
          ASSERT_EQ(got.edges[k].b, ref.edges[k].b);
          ASSERT_EQ(got.edges[k].d, ref.edges[k].d);
        }
      }
}

TEST(GpuKnn, SmallInputsAndBadInput) {
  for (std::size_t n = 1; n <= 5; ++n) {
    const auto d = chutoro_test::make_blobs(n, 3, 1, 0.5, n);
    const auto src = make_source(d, exact_metric::euclidean);
    for (std::size_t ms : {std::size_t{1}, n}) {
      const cd::knn_tree got = cd::knn_hdbscan(input_of(*src, exact_metric::euclidean, ms));
      const cd::exact_tree want = cd::exact_hdbscan(input_of(*src, exact_metric::euclidean, ms));
      EXPECT_EQ(got.core, want.core) << n;
      ASSERT_EQ(got.edges.size(), n - 1);
      for (std::size_t k = 0; k < got.edges.size(); ++k) EXPECT_EQ(got.edges[k].d, want.edges[k].d);
    }
  }
  const auto d = chutoro_test::make_blobs(10, 3, 1, 0.5, 1);
  const auto src = make_source(d, exact_metric::euclidean);
  try {
    (void)cd::knn_graph(input_of(*src, exact_metric::euclidean, 1), 10);
    FAIL() << "k = n accepted";
  } catch (const chutoro::error& e) {
    EXPECT_NE(std::string(e.what()).find("k = 10 neighbours for 10 items"), std::string::npos) << e.what();
  }
}

}  // namespace
