// test_exact_omp.cpp — the GPU exact mode (src/cuda/exact.cuh), built with the
// host compiler for Thrust's OpenMP device system, against the CPU exact
// mode (cpu_backend::build_exact: tiled core distances and Prim's tree), the
// oracle. The same source runs on a GPU in the CUDA module.
//
// What the tests prove:
//  - GpuExact.EqualsCpuOracleEveryMetric: euclidean, cosine, manhattan,
//    inner_product, angular on jittered (tie-free) blobs, min_samples 1 to 64:
//    core distances equal (bit for bit for inner_product and angular, whose
//    CPU kernels add in the same order; within 1e-5 relative for the Highway
//    kernels of the dense metrics), the same tree edge by edge (ids), each
//    weight and the total weight within 1e-5 relative, identical labels.
//  - GpuExact.TiesOnIntegerData: integer coordinates with duplicates (every
//    distance exact in float32, so the CPU's and the GPU's are bit-identical
//    and ties abound): core distances and tree bit-identical to the CPU's,
//    ties broken by (w, min id, max id) alike.
//  - GpuExact.SameResultOnAnyTileShapeAndThreadCount: columns per tile 7, 64
//    and all, heaps of 7 rows per block or all, 1 or all threads: the same bytes.
//  - GpuExact.LargeMinSamples: min_samples 1024, heaps in row blocks: bit-identical.
//  - GpuExact.SmallInputs: 1 to 17 items, min_samples 1 and n.
//  - GpuExact.ProgressAndCancellation: progress reaches n and n - 1; an
//    exception thrown by the callback propagates.
//  - GpuExact.RejectsBadInput: bad shapes and min_samples name the problem.
#include <gtest/gtest.h>

#include <chutoro/chutoro.hpp>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/backend/backend.hpp"
#include "cuda/exact.cuh"
#include "test_data.hpp"

namespace {

namespace cd = chutoro::cuda_detail;
using cd::exact_metric;

struct case_data {
  std::shared_ptr<chutoro::data_source> src;
  exact_metric metric;
};

/// A source of the metric over `d`'s rows (inner_product: rows scaled to norms
/// below about 1, so 1 - <x, y> keeps its meaning).
case_data make_source(const chutoro_test::dense_data& d, exact_metric m) {
  switch (m) {
    case exact_metric::euclidean:
      return {std::make_shared<chutoro::dense_source>(d.values, d.n, d.dim, chutoro::dense_metric::euclidean),
              m};
    case exact_metric::cosine:
      return {std::make_shared<chutoro::dense_source>(d.values, d.n, d.dim, chutoro::dense_metric::cosine),
              m};
    case exact_metric::manhattan:
      return {std::make_shared<chutoro::dense_source>(d.values, d.n, d.dim, chutoro::dense_metric::manhattan),
              m};
    case exact_metric::inner_product: {
      std::vector<float> v(d.values);
      float scale = 0;
      for (float x : v) scale = std::max(scale, std::fabs(x));
      for (float& x : v) x /= scale * std::sqrt(static_cast<float>(d.dim));
      return {
          std::make_shared<chutoro::product_source>(v, d.n, d.dim, chutoro::product_metric::inner_product),
          m};
    }
    case exact_metric::angular:
    default:
      return {
          std::make_shared<chutoro::product_source>(d.values, d.n, d.dim, chutoro::product_metric::angular),
          m};
  }
}

cd::exact_input input_of(const case_data& c, std::size_t min_samples) {
  const chutoro::matrix_view v = *c.src->matrix();
  cd::exact_input in;
  in.rows = std::span<const float>(static_cast<const float*>(v.data), v.rows * v.stride);
  in.n = v.rows;
  in.dim = v.cols;
  in.stride = v.stride;
  in.metric = c.metric;
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

/// The GPU result as the spanning_tree the host hierarchy takes.
chutoro::spanning_tree as_tree(const cd::exact_tree& t) {
  chutoro::spanning_tree s;
  s.n = t.core.size();
  s.core_distances = t.core;
  for (const auto& e : t.edges) s.edges.push_back({e.a, e.b, static_cast<double>(e.d)});
  return s;
}

bool near(double a, double b, double rel, double abs = 0) {
  return std::fabs(a - b) <= std::max(abs, rel * std::max(std::fabs(a), std::fabs(b)));
}

const char* name(exact_metric m) {
  static const char* names[] = {"euclidean", "cosine", "manhattan", "inner_product", "angular"};
  return names[static_cast<int>(m)];
}

void expect_bit_identical(const chutoro::spanning_tree& got, const chutoro::spanning_tree& want) {
  ASSERT_EQ(got.n, want.n);
  ASSERT_EQ(got.core_distances.size(), want.core_distances.size());
  for (std::size_t i = 0; i < got.core_distances.size(); ++i)
    ASSERT_EQ(std::bit_cast<std::uint32_t>(got.core_distances[i]),
              std::bit_cast<std::uint32_t>(want.core_distances[i]))
        << "core " << i << ": " << got.core_distances[i] << " vs " << want.core_distances[i];
  ASSERT_EQ(got.edges.size(), want.edges.size());
  for (std::size_t k = 0; k < got.edges.size(); ++k) {
    ASSERT_EQ(got.edges[k].a, want.edges[k].a) << "edge " << k;
    ASSERT_EQ(got.edges[k].b, want.edges[k].b) << "edge " << k;
    ASSERT_EQ(got.edges[k].distance, want.edges[k].distance) << "edge " << k;
  }
}

}  // namespace

TEST(GpuExact, EqualsCpuOracleEveryMetric) {
  struct shape {
    std::size_t n, dim, centers, min_samples;
  };
  const shape shapes[] = {{400, 5, 4, 1}, {500, 5, 4, 5}, {300, 37, 5, 16}, {300, 12, 3, 64}};
  for (int mi = 0; mi < 5; ++mi) {
    const auto metric = static_cast<exact_metric>(mi);
    for (const shape& sh : shapes) {
      SCOPED_TRACE(std::string(name(metric)) + ", n " + std::to_string(sh.n) + ", dim " +
                   std::to_string(sh.dim) + ", min_samples " + std::to_string(sh.min_samples));
      const auto d = chutoro_test::make_blobs(sh.n, sh.dim, sh.centers, 0.1, 100 + sh.n + mi);
      const case_data c = make_source(d, metric);
      const chutoro::spanning_tree want = cpu_exact(*c.src, sh.min_samples);
      cd::exact_options opt;
      opt.tile_cols = 128;  // several tiles: the bound tightens between them
      const chutoro::spanning_tree got = as_tree(cd::exact_hdbscan(input_of(c, sh.min_samples), opt));

      ASSERT_EQ(got.core_distances.size(), want.core_distances.size());
      const bool same_order = metric == exact_metric::inner_product || metric == exact_metric::angular;
      // 1 - <x, y> near 0 loses its relative precision to cancellation (on
      // the CPU alike): cosine is compared to a few float32 ulps of 1 there.
      const double abs_tol = metric == exact_metric::cosine ? 1e-6 : 0.0;
      for (std::size_t i = 0; i < got.n; ++i) {
        if (same_order) {
          ASSERT_EQ(got.core_distances[i], want.core_distances[i]) << "core " << i;
        } else {
          ASSERT_TRUE(near(got.core_distances[i], want.core_distances[i], 1e-5, abs_tol))
              << "core " << i << ": " << got.core_distances[i] << " vs " << want.core_distances[i];
        }
      }
      // The same tree: the same edges (a, b), each of nearly the same weight.
      // (Positions may differ where weights within rounding of each other
      // swap places in the (w, a, b) order; with the CPU's own summation
      // order, inner_product and angular, they are bit-identical.)
      ASSERT_EQ(got.edges.size(), want.edges.size());
      std::map<std::pair<std::int64_t, std::int64_t>, double> want_w;
      double got_total = 0, want_total = 0;
      for (const auto& e : want.edges) want_w[{e.a, e.b}] = e.distance, want_total += e.distance;
      for (std::size_t k = 0; k < got.edges.size(); ++k) {
        const auto& e = got.edges[k];
        const auto it = want_w.find({e.a, e.b});
        ASSERT_NE(it, want_w.end()) << "edge " << k << " (" << e.a << ", " << e.b
                                    << ") is not in the CPU's tree";
        ASSERT_TRUE(near(e.distance, it->second, 1e-5, abs_tol))
            << "edge " << k << ": " << e.distance << " vs " << it->second;
        if (same_order) {
          ASSERT_EQ(e.a, want.edges[k].a) << "edge " << k;
          ASSERT_EQ(e.b, want.edges[k].b) << "edge " << k;
          ASSERT_EQ(e.distance, want.edges[k].distance) << "edge " << k;
        }
        got_total += e.distance;
      }
      EXPECT_TRUE(near(got_total, want_total, 1e-5)) << got_total << " vs " << want_total;
      chutoro::selection_params sp;
      sp.min_cluster_size = 15;
      const auto want_labels = chutoro::extract_clusters(want, sp).labels;
      EXPECT_EQ(chutoro::extract_clusters(got, sp).labels, want_labels);
      if (sh.min_samples > 1 && metric != exact_metric::inner_product) {  // clusters to find
        EXPECT_GT(*std::max_element(want_labels.begin(), want_labels.end()), 0);
      }
    }
  }
}

TEST(GpuExact, TiesOnIntegerData) {
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<int> coord(0, 4);
  chutoro_test::dense_data d;
  d.n = 400, d.dim = 3;
  for (std::size_t i = 0; i < d.n * d.dim; ++i) d.values.push_back(static_cast<float>(coord(rng)));
  for (const exact_metric m : {exact_metric::euclidean, exact_metric::manhattan}) {
    for (const std::size_t ms : {1u, 4u, 10u}) {
      SCOPED_TRACE(std::string(name(m)) + ", min_samples " + std::to_string(ms));
      const case_data c = make_source(d, m);
      cd::exact_options opt;
      opt.tile_cols = 61;
      expect_bit_identical(as_tree(cd::exact_hdbscan(input_of(c, ms), opt)), cpu_exact(*c.src, ms));
    }
  }
}

TEST(GpuExact, SameResultOnAnyTileShapeAndThreadCount) {
  const auto d = chutoro_test::make_blobs(300, 9, 3, 0.1, 9);
  const case_data c = make_source(d, exact_metric::euclidean);
  const cd::exact_input in = input_of(c, 8);
  const cd::exact_tree base = cd::exact_hdbscan(in);
  for (const std::size_t cols : {std::size_t{7}, std::size_t{64}, std::size_t{0}}) {
    for (const std::size_t heap_rows : {std::size_t{7}, std::size_t{0}}) {
      for (const int threads : {1, 0}) {
        SCOPED_TRACE("cols " + std::to_string(cols) + ", heap rows " + std::to_string(heap_rows) +
                     ", threads " + std::to_string(threads));
        const auto scope = chutoro::detail::shared_cpu_backend()->enter(threads);
        cd::exact_options opt;
        opt.tile_cols = cols;
        if (heap_rows > 0) opt.heap_bytes = heap_rows * 4 * (in.min_samples - 1);
        const cd::exact_tree t = cd::exact_hdbscan(in, opt);
        ASSERT_EQ(t.core, base.core);
        ASSERT_EQ(t.edges.size(), base.edges.size());
        EXPECT_EQ(std::memcmp(t.edges.data(), base.edges.data(), t.edges.size() * sizeof(cd::forest_edge)),
                  0);
      }
    }
  }
}

// min_samples 1024 (the "at least 1024"): heaps of 1023 per row, in
// row blocks of 50 rows; integer data, so the CPU's answer is bit-exact.
TEST(GpuExact, LargeMinSamples) {
  std::mt19937_64 rng(8);
  std::uniform_int_distribution<int> coord(0, 60);
  chutoro_test::dense_data d;
  d.n = 1100, d.dim = 4;
  for (std::size_t i = 0; i < d.n * d.dim; ++i) d.values.push_back(static_cast<float>(coord(rng)));
  const case_data c = make_source(d, exact_metric::euclidean);
  cd::exact_options opt;
  opt.heap_bytes = 50 * 4 * 1023;
  opt.tile_cols = 300;
  expect_bit_identical(as_tree(cd::exact_hdbscan(input_of(c, 1024), opt)), cpu_exact(*c.src, 1024));
}

TEST(GpuExact, SmallInputs) {
  for (const std::size_t n : {1u, 2u, 3u, 17u}) {
    auto d = chutoro_test::make_blobs(n, 4, 1, 0.0, n);
    for (float& x : d.values) x = std::round(x);  // exact sums: bit-identical to the CPU
    for (const std::size_t ms : {std::size_t{1}, n}) {
      SCOPED_TRACE("n " + std::to_string(n) + ", min_samples " + std::to_string(ms));
      const case_data c = make_source(d, exact_metric::manhattan);
      const auto got = as_tree(cd::exact_hdbscan(input_of(c, ms)));
      expect_bit_identical(got, cpu_exact(*c.src, ms));
    }
  }
}

TEST(GpuExact, ProgressAndCancellation) {
  const auto d = chutoro_test::make_blobs(300, 6, 3, 0.0, 3);
  const case_data c = make_source(d, exact_metric::cosine);
  cd::exact_options opt;
  opt.tile_cols = 50;
  std::size_t core_done = 0, mst_done = 0, calls = 0;
  opt.progress = [&](const char* stage, std::size_t done, std::size_t total) {
    ++calls;
    if (std::string(stage) == "core distances") {
      EXPECT_EQ(total, 300u);
      EXPECT_GE(done, core_done);
      core_done = done;
    } else {
      EXPECT_EQ(std::string(stage), "mst");
      EXPECT_EQ(total, 299u);
      EXPECT_GE(done, mst_done);
      mst_done = done;
    }
  };
  (void)cd::exact_hdbscan(input_of(c, 5), opt);
  EXPECT_EQ(core_done, 300u);
  EXPECT_EQ(mst_done, 299u);
  EXPECT_GT(calls, 12u);  // every tile reports
  opt.progress = [](const char* stage, std::size_t, std::size_t) {
    if (std::string(stage) == "mst") throw std::runtime_error("cancelled by the test");
  };
  EXPECT_THROW((void)cd::exact_hdbscan(input_of(c, 5), opt), std::runtime_error);
}

TEST(GpuExact, RejectsBadInput) {
  const auto d = chutoro_test::make_blobs(20, 4, 1, 0.0, 1);
  const case_data c = make_source(d, exact_metric::euclidean);
  auto message = [&](cd::exact_input in) -> std::string {
    try {
      (void)cd::exact_hdbscan(in);
    } catch (const chutoro::error& e) {
      EXPECT_EQ(e.code(), chutoro::error_code::invalid_argument);
      return e.what();
    }
    return "(accepted)";
  };
  cd::exact_input in = input_of(c, 5);
  in.min_samples = 21;
  EXPECT_NE(message(in).find("min_samples = 21 for 20 items"), std::string::npos) << message(in);
  in.min_samples = 0;
  EXPECT_NE(message(in).find("min_samples = 0"), std::string::npos);
  in = input_of(c, 5);
  in.stride = 8;
  EXPECT_NE(message(in).find("row stride 8 for 4 columns"), std::string::npos) << message(in);
  in = input_of(c, 5);
  in.rows = in.rows.first(in.rows.size() - 1);
  EXPECT_NE(message(in).find("values for 20 rows of stride 16"), std::string::npos) << message(in);
}
