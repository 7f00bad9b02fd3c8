// test_boruvka_omp.cpp — the GPU spanning forest (src/cuda/boruvka.cuh), built
// with the host compiler for Thrust's OpenMP device system, against the CPU's
// Filter-Kruskal (detail::minimum_spanning_forest). The same source runs on a
// GPU in the CUDA build; here every commit checks the algorithm itself.
//
// What the tests prove (equal = same edge count, same (a, b) at each position,
// distances bit-identical; where the input offers one pair several distances
// of the same weight the CPU's pick is unspecified, so there the weight must be
// equal and the distance one of those offered):
//  - GpuForest.LayoutMatchesRawEdge: forest_edge and raw_edge are layout-compatible.
//  - GpuForest.TinyInputs: 0, 1, 2 items, self-loops only, a reversed pair,
//    edgeless items: the CPU's answers.
//  - GpuForest.SignedZeroWeightsTie: a weight -0 ties with +0 (the CPU's float
//    comparison), so (a, b) orders them.
//  - GpuForest.MatchesCpuOnRandomGraphs: a grid of random multigraphs (sizes
//    2..2000, 1 or 3 disconnected parts, continuous or integer distances with
//    heavy ties, no / random / all-equal / partly infinite core distances,
//    duplicates, reversed pairs, self-loops, -0 and +inf distances, split
//    between `edges` and `more`): equal to the CPU.
//  - GpuForest.ParallelEdgesOfEqualWeight: pairs offered with different
//    distances that a core distance maps to one weight: equal in the sense above.
//  - GpuForest.SameResultOnAnyThreadCount: 300,000 edges with heavy ties on 1,
//    2 and (where there are more) all processors' OpenMP threads:
//    byte-identical results, equal to the CPU.
//  - GpuForest.ChunkedUploadEqualsPlainUpload: the state forest.cu streams
//    into (boruvka_upload, staged chunk by chunk in any order) solves to the
//    same bytes, and names the first bad id.
//  - GpuForest.RejectsBadInput: an id >= n (naming the list and the position)
//    and a core array of the wrong length throw error(invalid_argument).
//  - GpuForestProp.EqualsCpu (RapidCheck): random small graphs, equal to the CPU.
// The many small cases and the data sets run on one thread (see
// MatchesCpuOnRandomGraphs).
//  - GpuForestData.SharedDataSets: on every shared data set (large ones
//    subsampled), FISHDBC built twice, with the CPU's forest solver and with
//    Borůvka as the backend's solver (every compaction and the final tree):
//    same stored forest, bit-identical spanning trees, identical labels; and
//    Borůvka's forest of the CPU run's final candidate edges (forest + buffer,
//    its core distances) equals the CPU's.
#include <gtest/gtest.h>
#include <omp.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <bit>
#include <chutoro/chutoro.hpp>
#include <chutoro/io.hpp>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "core/backend/backend.hpp"
#include "core/mst/candidate_graph.hpp"
#include "cuda/boruvka.cuh"
#include "test_data.hpp"

namespace {

using chutoro::cuda_detail::forest_edge;
using chutoro::detail::raw_edge;
constexpr float kInf = std::numeric_limits<float>::infinity();

static_assert(sizeof(forest_edge) == sizeof(raw_edge) && alignof(forest_edge) == alignof(raw_edge));
static_assert(offsetof(forest_edge, a) == offsetof(raw_edge, a) &&
              offsetof(forest_edge, b) == offsetof(raw_edge, b) &&
              offsetof(forest_edge, d) == offsetof(raw_edge, d));
static_assert(std::is_standard_layout_v<forest_edge> && std::is_trivially_copyable_v<forest_edge>);

std::vector<forest_edge> as_forest_edges(std::span<const raw_edge> e) {
  std::vector<forest_edge> out(e.size());
  if (!e.empty()) std::memcpy(out.data(), e.data(), e.size_bytes());
  return out;
}

std::vector<raw_edge> gpu_forest(std::size_t n, std::span<const raw_edge> edges,
                                 std::span<const raw_edge> more, std::span<const float> core) {
  const auto e = as_forest_edges(edges), m = as_forest_edges(more);
  const auto f = chutoro::cuda_detail::boruvka_forest(n, e, m, core);
  std::vector<raw_edge> out(f.size());
  if (!f.empty()) std::memcpy(out.data(), f.data(), f.size() * sizeof(raw_edge));
  return out;
}

std::uint32_t bits(float x) { return std::bit_cast<std::uint32_t>(x); }

// The CPU's weight (candidate_graph.cpp, weigh()), a <= b.
float weight(std::span<const float> core, std::uint32_t a, std::uint32_t b, float d) {
  const float c = core.empty() ? 0.0f : std::max(core[a], core[b]);
  return std::max(c, d);
}

// "" when got equals want in the sense of the file comment, else the first difference.
std::string difference(const std::vector<raw_edge>& got, const std::vector<raw_edge>& want,
                       std::span<const raw_edge> edges, std::span<const raw_edge> more,
                       std::span<const float> core) {
  if (got.size() != want.size())
    return std::to_string(got.size()) + " edges, the CPU " + std::to_string(want.size());
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::vector<float>> offered;
  for (auto part : {edges, more})
    for (const raw_edge& e : part) offered[{std::min(e.a, e.b), std::max(e.a, e.b)}].push_back(e.d);
  for (std::size_t k = 0; k < got.size(); ++k) {
    const raw_edge &g = got[k], &w = want[k];
    const std::string at = "edge " + std::to_string(k) + " (" + std::to_string(g.a) + ", " +
                           std::to_string(g.b) + ", " + std::to_string(g.d) + ") vs the CPU's (" +
                           std::to_string(w.a) + ", " + std::to_string(w.b) + ", " + std::to_string(w.d) +
                           ")";
    if (g.a != w.a || g.b != w.b) return at + ": other items";
    if (bits(g.d) == bits(w.d)) continue;
    const float ww = weight(core, w.a, w.b, w.d);
    std::set<std::uint32_t> same_weight;  // distinct distances offered for the pair with that weight
    for (float d : offered[{w.a, w.b}])
      if (weight(core, w.a, w.b, d) == ww) same_weight.insert(bits(d));
    if (same_weight.size() < 2) return at + ": other distance bits";
    if (weight(core, g.a, g.b, g.d) != ww || same_weight.count(bits(g.d)) == 0)
      return at + ": a distance of another weight or never offered";
  }
  return "";
}

void expect_equal_to_cpu(std::size_t n, std::span<const raw_edge> edges, std::span<const raw_edge> more,
                         std::span<const float> core) {
  const auto want = chutoro::detail::minimum_spanning_forest(n, edges, more, core);
  const auto got = gpu_forest(n, edges, more, core);
  EXPECT_EQ(difference(got, want, edges, more, core), "");
}

// Random multigraph on n items in `parts` groups that never connect; distances
// continuous (levels 0) or integers in [1, levels]; each edge repeated
// (reversed) with probability 1/4, with a different distance 1/16; self-loops,
// -0 and +inf distances now and then.
std::vector<raw_edge> random_graph(std::size_t n, std::size_t m, std::size_t parts, int levels,
                                   std::mt19937_64& rng) {
  std::vector<raw_edge> e;
  if (n == 0) return e;
  std::uniform_int_distribution<std::uint32_t> pick(0, static_cast<std::uint32_t>(n - 1));
  std::uniform_int_distribution<int> level(1, std::max(levels, 1));
  std::uniform_real_distribution<float> cont(0.0f, 10.0f);
  auto distance = [&] {
    const auto r = rng() % 64;
    if (r == 0) return -0.0f;
    if (r == 1) return kInf;
    return levels > 0 ? static_cast<float>(level(rng)) : cont(rng);
  };
  std::size_t tries = 0;
  while (e.size() < m && ++tries < 100 * m) {
    const std::uint32_t a = pick(rng), b = rng() % 50 == 0 ? a : pick(rng);
    if (a % parts != b % parts) continue;
    const float d = distance();
    e.push_back({a, b, d});
    if (rng() % 4 == 0) e.push_back({b, a, rng() % 4 == 0 ? distance() : d});
  }
  std::shuffle(e.begin(), e.end(), rng);
  return e;
}

enum class core_kind { none = 0, random = 1, equal = 2, partly_infinite = 3 };

std::vector<float> make_core(std::size_t n, core_kind kind, int levels, std::mt19937_64& rng) {
  std::vector<float> core;
  if (kind == core_kind::none) return core;
  std::uniform_int_distribution<int> c(0, std::max(levels, 5));
  for (std::size_t i = 0; i < n; ++i) {
    float x = kind == core_kind::equal ? 2.0f : static_cast<float>(c(rng));
    if (kind == core_kind::partly_infinite && rng() % 5 == 0) x = kInf;
    core.push_back(x);
  }
  return core;
}

}  // namespace

TEST(GpuForest, LayoutMatchesRawEdge) {
  // The static_asserts above are the test; this checks the bytes round-trip too.
  const std::vector<raw_edge> e{{3, 1, 2.5f}, {0, 7, -0.0f}};
  const auto f = as_forest_edges(e);
  EXPECT_EQ(f[0].a, 3u);
  EXPECT_EQ(f[0].b, 1u);
  EXPECT_EQ(bits(f[1].d), bits(-0.0f));
}

TEST(GpuForest, TinyInputs) {
  const auto one_thread = chutoro::detail::shared_cpu_backend()->enter(1);  // as in MatchesCpuOnRandomGraphs
  const std::vector<raw_edge> none, loop{{0, 0, 1.0f}}, pair{{1, 0, 3.0f}}, loops{{1, 1, 0.0f}, {2, 2, 1.0f}};
  const std::vector<float> no_core;
  for (std::size_t n : {0, 1, 2, 3}) expect_equal_to_cpu(n, none, none, no_core);
  expect_equal_to_cpu(1, loop, none, no_core);
  expect_equal_to_cpu(1, none, loop, std::vector<float>{kInf});
  expect_equal_to_cpu(2, pair, none, no_core);
  expect_equal_to_cpu(2, none, pair, std::vector<float>{4.0f, 1.0f});
  expect_equal_to_cpu(3, loops, none, no_core);
  expect_equal_to_cpu(5, pair, loops, no_core);  // items 2..4 without edges
  const auto f = gpu_forest(2, pair, none, no_core);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].a, 0u);  // (1, 0) comes back as (0, 1)
  EXPECT_EQ(f[0].b, 1u);
  EXPECT_EQ(f[0].d, 3.0f);
}

TEST(GpuForest, SignedZeroWeightsTie) {
  // Weights -0 (both cores -0, d -0) and +0 are equal, so (a, b) decides: the
  // CPU keeps (0, 1), (0, 2), (1, 3) and drops (2, 3), which comes last.
  const auto one_thread = chutoro::detail::shared_cpu_backend()->enter(1);
  const std::vector<float> core{0.0f, 0.0f, -0.0f, -0.0f};
  const std::vector<raw_edge> e{{3, 2, -0.0f}, {1, 3, 0.0f}, {2, 0, 0.0f}, {0, 1, 0.0f}};
  const auto got = gpu_forest(4, e, {}, core);
  EXPECT_EQ(difference(got, chutoro::detail::minimum_spanning_forest(4, e, core), e, {}, core), "");
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].a * 10 + got[0].b, 1u);
  EXPECT_EQ(got[1].a * 10 + got[1].b, 2u);
  EXPECT_EQ(got[2].a * 10 + got[2].b, 13u);
}

TEST(GpuForest, MatchesCpuOnRandomGraphs) {
  // One thread: hundreds of small cases, each a few dozen short parallel
  // regions, which a loaded machine would stretch to minutes; concurrency is
  // SameResultOnAnyThreadCount's and SharedDataSets' subject.
  const auto one_thread = chutoro::detail::shared_cpu_backend()->enter(1);
  std::mt19937_64 rng(20240611);
  int cases = 0;
  for (std::size_t n : {2, 3, 10, 60, 300, 2000})
    for (std::size_t parts : {1, 3})
      for (int levels : {0, 3, 20})
        for (core_kind kind :
             {core_kind::none, core_kind::random, core_kind::equal, core_kind::partly_infinite})
          for (std::size_t density : {1, 6}) {
            const auto all = random_graph(n, density * n, parts, levels, rng);
            const auto core = make_core(n, kind, levels, rng);
            const std::size_t split = all.empty() ? 0 : rng() % (all.size() + 1);
            const std::span<const raw_edge> edges(all.data(), split),
                more(all.data() + split, all.size() - split);
            SCOPED_TRACE("n " + std::to_string(n) + ", parts " + std::to_string(parts) + ", levels " +
                         std::to_string(levels) + ", core " + std::to_string(static_cast<int>(kind)) +
                         ", edges " + std::to_string(all.size()) + " split at " + std::to_string(split));
            expect_equal_to_cpu(n, edges, more, core);
            ++cases;
          }
  EXPECT_EQ(cases, 6 * 2 * 3 * 4 * 2);
}

TEST(GpuForest, ParallelEdgesOfEqualWeight) {
  // Core distance 5 everywhere: distances 1, 2, 3 of one pair all weigh 5.
  const std::size_t n = 6;
  const std::vector<float> core(n, 5.0f);
  std::vector<raw_edge> e;
  for (std::uint32_t a = 0; a < n; ++a)
    for (std::uint32_t b = a + 1; b < n; ++b)
      for (float d : {3.0f, 1.0f, 2.0f, 6.0f}) e.push_back({b, a, d});
  const auto got = gpu_forest(n, e, {}, core);
  const auto want = chutoro::detail::minimum_spanning_forest(n, e, core);
  EXPECT_EQ(difference(got, want, e, {}, core), "");
  ASSERT_EQ(got.size(), n - 1);
  for (std::size_t k = 0; k < got.size(); ++k) {  // the star on item 0, in id order
    EXPECT_EQ(got[k].a, 0u);
    EXPECT_EQ(got[k].b, k + 1);
    EXPECT_LE(got[k].d, 5.0f);  // never the heavier parallel edge 6
  }
}

TEST(GpuForest, SameResultOnAnyThreadCount) {
  std::mt19937_64 rng(99);
  const std::size_t n = 20000;
  const auto edges = random_graph(n, 300000, 2, 4, rng);
  const auto core = make_core(n, core_kind::random, 4, rng);
  const auto want = chutoro::detail::minimum_spanning_forest(n, edges, core);
  std::vector<std::vector<raw_edge>> results;
  const int saved = omp_get_max_threads();
  // 1, 2 and (on larger machines) every processor.
  const std::vector<int> counts =
      omp_get_num_procs() > 2 ? std::vector<int>{1, 2, omp_get_num_procs()} : std::vector<int>{1, 2};
  for (int threads : counts) {
    omp_set_num_threads(threads);
    results.push_back(gpu_forest(n, edges, {}, core));
  }
  omp_set_num_threads(saved);
  EXPECT_GT(want.size(), n / 2);
  EXPECT_EQ(difference(results[0], want, edges, {}, core), "");
  for (std::size_t r = 1; r < results.size(); ++r) {
    ASSERT_EQ(results[r].size(), results[0].size()) << counts[r] << " threads";
    EXPECT_EQ(std::memcmp(results[r].data(), results[0].data(), results[0].size() * sizeof(raw_edge)), 0)
        << counts[r] << " threads";
  }
}

TEST(GpuForest, RejectsBadInput) {
  const std::vector<forest_edge> edges{{0, 1, 1.0f}}, more{{1, 2, 1.0f}, {2, 0, 1.0f}, {3, 1, 1.0f}};
  const std::vector<float> core{1.0f, 2.0f};
  try {
    (void)chutoro::cuda_detail::boruvka_forest(3, edges, more, {});
    ADD_FAILURE() << "an item id >= n was accepted";
  } catch (const chutoro::error& e) {
    EXPECT_EQ(e.code(), chutoro::error_code::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("more[2] (0-based) joins items 3 and 1"), std::string::npos)
        << e.what();
  }
  try {
    (void)chutoro::cuda_detail::boruvka_forest(3, edges, {}, core);
    ADD_FAILURE() << "2 core distances for 3 items were accepted";
  } catch (const chutoro::error& e) {
    EXPECT_EQ(e.code(), chutoro::error_code::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("2 values for 3 items"), std::string::npos) << e.what();
  }
}

// forest.cu's streamed upload: boruvka_upload filled and staged chunk by
// chunk (here in reverse order, chunks straddling the edges/more boundary),
// then boruvka_solve: the forest of boruvka_forest, and the first bad id named.
TEST(GpuForest, ChunkedUploadEqualsPlainUpload) {
  const auto one_thread = chutoro::detail::shared_cpu_backend()->enter(1);
  std::mt19937_64 rng(77);
  const std::size_t n = 500;
  const auto all = as_forest_edges(random_graph(n, 6000, 1, 5, rng));
  const std::span<const forest_edge> edges(all.data(), 3500), more(all.data() + 3500, all.size() - 3500);
  const std::vector<float> core = make_core(n, core_kind::random, 5, rng);
  auto chunked = [&](std::size_t items, std::span<const forest_edge> e1, std::span<const forest_edge> e2) {
    namespace cd = chutoro::cuda_detail;
    const std::size_t m = e1.size() + e2.size(), chunk = 777;
    cd::boruvka_upload up(items, m, core);
    std::vector<forest_edge> host(e1.begin(), e1.end());
    host.insert(host.end(), e2.begin(), e2.end());
    for (std::size_t first = (m - 1) / chunk * chunk;; first -= chunk) {
      const std::size_t len = std::min(chunk, m - first);
      thrust::copy(host.data() + first, host.data() + first + len,
                   up.input_.begin() + static_cast<std::ptrdiff_t>(first));
      thrust::for_each(thrust::counting_iterator<std::uint64_t>(first),
                       thrust::counting_iterator<std::uint64_t>(first + len), up.stage());
      if (first == 0) break;
    }
    return cd::boruvka_solve(up, e1, e2);
  };
  const auto want = chutoro::cuda_detail::boruvka_forest(n, edges, more, core);
  const auto got = chunked(n, edges, more);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(forest_edge)), 0);
  // Two bad ids in different chunks: the first position is named.
  std::vector<forest_edge> bad(all.begin(), all.end());
  bad[5000] = {1, 9999, 1.0f};
  bad[4000] = {8888, 2, 1.0f};
  try {
    (void)chunked(n, std::span<const forest_edge>(bad.data(), 3500),
                  std::span<const forest_edge>(bad.data() + 3500, bad.size() - 3500));
    ADD_FAILURE() << "an item id >= n was accepted";
  } catch (const chutoro::error& e) {
    EXPECT_NE(std::string(e.what()).find("more[500] (0-based) joins items 8888 and 2"), std::string::npos)
        << e.what();
  }
}

RC_GTEST_PROP(GpuForestProp, EqualsCpu, ()) {
  const auto one_thread = chutoro::detail::shared_cpu_backend()->enter(1);  // as in MatchesCpuOnRandomGraphs
  const auto n = *rc::gen::inRange<std::size_t>(1, 40);
  const auto m = *rc::gen::inRange<std::size_t>(0, 4 * n + 1);
  const auto ids = rc::gen::inRange<std::uint32_t>(0, static_cast<std::uint32_t>(n));
  std::vector<raw_edge> edges;
  for (std::size_t k = 0; k < m; ++k)
    edges.push_back({*ids, *ids, static_cast<float>(*rc::gen::inRange(0, 4))});
  std::vector<float> core;
  if (*rc::gen::arbitrary<bool>())
    for (std::size_t i = 0; i < n; ++i) core.push_back(static_cast<float>(*rc::gen::inRange(0, 4)));
  const auto want = chutoro::detail::minimum_spanning_forest(n, edges, core);
  const auto got = gpu_forest(n, edges, {}, core);
  RC_ASSERT(difference(got, want, edges, {}, core) == std::string());
}

namespace {

// The CPU backend with Borůvka (OpenMP system) as its spanning-forest solver:
// FISHDBC's compactions and final tree go through boruvka_forest.
class boruvka_backend final : public chutoro::detail::cpu_backend {
 public:
  mutable std::size_t calls = 0;  // the build calls the solver from one thread
  std::vector<raw_edge> minimum_spanning_forest(std::size_t n, std::span<const raw_edge> edges,
                                                std::span<const raw_edge> more,
                                                std::span<const float> core) const override {
    ++calls;
    return gpu_forest(n, edges, more, core);
  }
  std::vector<raw_edge> compact(std::size_t n, std::vector<raw_edge>&& edges, std::vector<raw_edge>&& more,
                                std::span<const float> core) const override {
    std::vector<raw_edge> forest = minimum_spanning_forest(n, edges, more, core);
    edges = {}, more = {};
    return forest;
  }
};

chutoro::spanning_tree build(const std::shared_ptr<const chutoro::detail::backend>& b,
                             chutoro::detail::hnsw_state& s, const chutoro::data_source& data,
                             const chutoro::build_params& bp, chutoro::fit_stats& stats) {
  const auto scope = b->enter(0);
  return b->extend_hnsw(s, data, bp, stats, {});
}

// FISHDBC over `data` (HNSW build with compactions) twice: with the CPU's
// forest solver and with Borůvka's. Same stored forests, same trees (bit for
// bit), same labels; and Borůvka's forest of the CPU run's final candidate
// edges (forest + buffer) equals the CPU's.
void check_candidate_forest(const chutoro::data_source& data, std::size_t min_samples) {
  chutoro::build_params bp;
  bp.min_samples = min_samples;
  bp.compaction_factor = 2;
  bp.compaction_min_edges = 4096;  // several compactions, and a non-empty buffer at the end
  const auto cpu = chutoro::detail::shared_cpu_backend();
  const auto gpu = std::make_shared<boruvka_backend>();
  chutoro::detail::hnsw_state sc(bp, cpu), sg(bp, gpu);
  chutoro::fit_stats cpu_stats, gpu_stats;
  const chutoro::spanning_tree cpu_tree = build(cpu, sc, data, bp, cpu_stats);
  const chutoro::spanning_tree gpu_tree = build(gpu, sg, data, bp, gpu_stats);
  EXPECT_GT(cpu_stats.compactions, 0u);
  EXPECT_EQ(gpu_stats.compactions, cpu_stats.compactions);
  EXPECT_EQ(gpu->calls, gpu_stats.compactions + 1);  // every compaction and finish()

  // The final candidate edges of the CPU run, solved by both.
  const auto& g = sc.candidates;
  const std::size_t n = g.size();
  EXPECT_GT(g.buffered().size(), 0u);
  const std::vector<float> core(g.core_estimates().begin(), g.core_estimates().end());
  const auto want = chutoro::detail::minimum_spanning_forest(n, g.forest(), g.buffered(), core);
  const auto got = gpu_forest(n, g.forest(), g.buffered(), core);
  ASSERT_EQ(difference(got, want, g.forest(), g.buffered(), core), "");
  EXPECT_GT(got.size(), n / 2);

  // The Borůvka run: the same stored forest after the last compaction, the same tree.
  ASSERT_EQ(sg.candidates.forest().size(), g.forest().size());
  EXPECT_EQ(std::memcmp(sg.candidates.forest().data(), g.forest().data(), g.forest().size_bytes()), 0);
  ASSERT_EQ(gpu_tree.n, cpu_tree.n);
  EXPECT_EQ(gpu_tree.core_distances, cpu_tree.core_distances);
  ASSERT_EQ(gpu_tree.edges.size(), cpu_tree.edges.size());
  for (std::size_t k = 0; k < gpu_tree.edges.size(); ++k) {
    ASSERT_EQ(gpu_tree.edges[k].a, cpu_tree.edges[k].a) << "edge " << k;
    ASSERT_EQ(gpu_tree.edges[k].b, cpu_tree.edges[k].b) << "edge " << k;
    ASSERT_EQ(std::bit_cast<std::uint64_t>(gpu_tree.edges[k].distance),
              std::bit_cast<std::uint64_t>(cpu_tree.edges[k].distance))
        << "edge " << k;
  }
  chutoro::selection_params sp;
  sp.min_cluster_size = 10;
  const auto gpu_labels = chutoro::extract_clusters(gpu_tree, sp).labels;
  const auto cpu_labels = chutoro::extract_clusters(cpu_tree, sp).labels;
  EXPECT_EQ(gpu_labels, cpu_labels);
  EXPECT_GT(*std::max_element(cpu_labels.begin(), cpu_labels.end()), 0);  // at least two clusters
}

void check_dense(const std::string& name, const chutoro_test::dense_data& d) {
  SCOPED_TRACE(name + ", " + std::to_string(d.n) + " x " + std::to_string(d.dim));
  chutoro::dense_source src(d.values, d.n, d.dim, chutoro::dense_metric::euclidean);
  check_candidate_forest(src, 5);
}

// A shared CSV read by the library's reader, its "label" column dropped.
chutoro_test::dense_data labelled_csv(const std::string& name) {
  const chutoro::dense_table t = chutoro::read_csv(chutoro_test::data_path(name), "label");
  chutoro_test::dense_data d;
  d.values = t.values;
  d.n = t.n;
  d.dim = t.dim;
  return d;
}

}  // namespace

TEST(GpuForestData, SharedDataSets) {
  // One thread, like the random grids: the subject is equality on real
  // candidate edges (thread counts are SameResultOnAnyThreadCount's); two
  // full builds per set would take a minute on a loaded two-core machine.
  const auto one_thread = chutoro::detail::shared_cpu_backend()->enter(1);
  using namespace chutoro_test;
  check_dense("digits.csv", labelled_csv("digits.csv"));
  check_dense("clusterable_data.npy", load_npy(data_path("clusterable_data.npy")));
  // The larger sets subsampled (exact rows, no jitter) to keep the test at seconds.
  check_dense("chameleon_ds3.csv",
              subsample_jitter(load_csv(data_path("chameleon_ds3.csv"), false), 4000, 0.0, 10));
  check_dense("letter.csv", subsample_jitter(labelled_csv("letter.csv"), 3000, 0.0, 11));
  check_dense("shuttle.csv", subsample_jitter(labelled_csv("shuttle.csv"), 3000, 0.0, 12));
  std::ifstream in(data_path("words_en.txt"));
  ASSERT_TRUE(in) << data_path("words_en.txt");
  std::vector<std::string> words;
  std::string w;
  for (std::size_t line = 0; std::getline(in, w); ++line)
    if (line % 50 == 0) words.push_back(w);  // ~2000 words spread over the alphabet
  SCOPED_TRACE("words_en.txt, " + std::to_string(words.size()) + " words");
  chutoro::string_source src(words);
  check_candidate_forest(src, 5);
}
