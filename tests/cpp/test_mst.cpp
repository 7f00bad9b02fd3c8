// test_mst.cpp — the MST stage (src/core/mst/candidate_graph.hpp) against brute force.
//
// What the tests prove:
//  - MstForest.*: detail::minimum_spanning_forest returns exactly the forest a
//    naive Kruskal finds (all edges sorted by (w, a, b), a component array
//    relabelled by hand), in the same Kruskal order, on random graphs that are
//    connected or not (forests), with duplicate edges, massive weight ties
//    (integer distances), and with / without core distances (w = max(core a,
//    core b, d)); more than 1024 edges exercise the Filter-Kruskal recursion,
//    150,000 edges its parallel sampled-pivot path, on 1 and 2 threads.
//  - MstCandidateGraph.CoreDistance*: core_distance(i) is the (min_samples-1)-th
//    smallest distance offered for i over distinct partners (self excluded),
//    +inf while fewer are known, 0 for min_samples 1; a pair offered again is
//    not counted twice.
//  - MstCandidateGraph.CompactionExactWithFixedCores: once the core distances
//    are final (each item's true k nearest offered first), compaction is exact:
//    a tiny threshold (hundreds of compactions) and a huge one (none) give the
//    same tree, equal to the brute-force Prim tree of the complete graph.
//  - MstCandidateGraph.FinishAndCompactIsLossless: random distances offered
//    in 8 rounds, with finish_and_compact() after each round, give after every
//    round the same tree as a graph that keeps every edge (finish()), while
//    core distances still fall; and it keeps far fewer edges.
//  - MstBuffer.PeakBoundedInRealFit: build_spanning_tree(hnsw) with small
//    compaction thresholds keeps fit_stats.peak_buffered_edges within the
//    bound of candidate_graph.hpp's header: (n - 1) + threshold + the edges
//    harvested by one insertion batch, and the compacted tree is still a
//    spanning tree with correct mutual-reachability weights.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <chutoro/chutoro.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

#include "core/mst/candidate_graph.hpp"
#include "core/mst/union_find.hpp"
#include "reference_hdbscan.hpp"
#include "test_data.hpp"

namespace {

using chutoro::detail::raw_edge;
constexpr float kInf = std::numeric_limits<float>::infinity();

struct keyed {
  float w;
  std::uint32_t a, b;
  float d;
};

// Naive Kruskal: sort by (w, a, b), keep an edge when its ends carry different
// component numbers, then renumber one whole component by a full scan.
std::vector<raw_edge> brute_forest(std::size_t n, const std::vector<raw_edge>& edges,
                                   const std::vector<float>& core) {
  std::vector<keyed> e;
  for (const raw_edge& x : edges) {
    const std::uint32_t a = std::min(x.a, x.b), b = std::max(x.a, x.b);
    const float w = core.empty() ? x.d : std::max({core[a], core[b], x.d});
    e.push_back({w, a, b, x.d});
  }
  std::stable_sort(e.begin(), e.end(), [](const keyed& x, const keyed& y) {
    return std::tie(x.w, x.a, x.b) < std::tie(y.w, y.a, y.b);
  });
  std::vector<std::size_t> comp(n);
  for (std::size_t i = 0; i < n; ++i) comp[i] = i;
  std::vector<raw_edge> out;
  for (const keyed& x : e) {
    const std::size_t ca = comp[x.a], cb = comp[x.b];
    if (ca == cb) continue;
    out.push_back({x.a, x.b, x.d});
    for (auto& c : comp)
      if (c == cb) c = ca;
  }
  return out;
}

// Random multigraph on n items: `parts` groups that never connect (a forest
// when parts > 1), distances integers in [1, levels] (heavy ties) or continuous,
// and every edge repeated with probability 1/4 (duplicates, same distance).
std::vector<raw_edge> random_graph(std::size_t n, std::size_t m, std::size_t parts, int levels,
                                   std::mt19937_64& rng) {
  std::vector<raw_edge> e;
  if (n < 2 * parts) return e;  // no two items share a part: an edgeless forest
  std::uniform_int_distribution<std::size_t> pick(0, n - 1);
  std::uniform_int_distribution<int> level(1, std::max(levels, 1));
  std::uniform_real_distribution<float> cont(0.0f, 10.0f);
  while (e.size() < m) {
    const std::size_t a = pick(rng), b = pick(rng);
    if (a == b || a % parts != b % parts) continue;
    const float d = levels > 0 ? static_cast<float>(level(rng)) : cont(rng);
    e.push_back({static_cast<std::uint32_t>(a), static_cast<std::uint32_t>(b), d});
    if (rng() % 4 == 0) e.push_back({static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(a), d});
  }
  return e;
}

// Same forest in the same order. Parallel edges between one pair may carry
// different distances with the same mutual-reachability weight (a core distance
// dominates): then either distance is right, so the weight is compared, and the
// distance must be one offered for that pair.
void expect_same_forest(const std::vector<raw_edge>& got, const std::vector<raw_edge>& want,
                        const std::vector<raw_edge>& offered, const std::vector<float>& core) {
  auto weight = [&](const raw_edge& e) { return core.empty() ? e.d : std::max({core[e.a], core[e.b], e.d}); };
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t k = 0; k < got.size(); ++k) {
    EXPECT_EQ(got[k].a, want[k].a) << "edge " << k;
    EXPECT_EQ(got[k].b, want[k].b) << "edge " << k;
    EXPECT_EQ(weight(got[k]), weight(want[k])) << "edge " << k;
    const bool was_offered = std::any_of(offered.begin(), offered.end(), [&](const raw_edge& o) {
      return std::min(o.a, o.b) == got[k].a && std::max(o.a, o.b) == got[k].b && o.d == got[k].d;
    });
    EXPECT_TRUE(was_offered) << "edge " << k << " carries a distance never offered for its pair";
  }
}

}  // namespace

TEST(MstForest, MatchesBruteForceOnRandomGraphs) {
  std::mt19937_64 rng(12345);
  int cases = 0;
  for (std::size_t n : {1, 2, 3, 10, 60, 300})
    for (std::size_t parts : {1, 3})
      for (int levels : {0, 3, 20})  // 0: continuous distances
        for (bool with_core : {false, true})
          for (std::size_t density : {1, 4, 12}) {
            const std::size_t m = n < 2 ? 0 : density * n;
            const auto edges = random_graph(n, m, parts, levels, rng);
            std::vector<float> core;
            if (with_core) {
              std::uniform_int_distribution<int> c(0, std::max(levels, 5));
              for (std::size_t i = 0; i < n; ++i) core.push_back(static_cast<float>(c(rng)));
              if (n > 0) core[0] = kInf;  // an item whose core distance is still unknown
            }
            SCOPED_TRACE("n " + std::to_string(n) + ", parts " + std::to_string(parts) + ", levels " +
                         std::to_string(levels) + ", core " + std::to_string(with_core) + ", edges " +
                         std::to_string(edges.size()));
            expect_same_forest(chutoro::detail::minimum_spanning_forest(n, edges, core),
                               brute_forest(n, edges, core), edges, core);
            ++cases;
          }
  EXPECT_EQ(cases, 216);
}

TEST(MstForest, DisconnectedGraphGivesOneTreePerComponent) {
  // Items 0-3 form a square with a diagonal, 4-5 one edge, 6 is isolated:
  // a forest of 3 + 1 edges.
  const std::vector<raw_edge> e{{0, 1, 1},    {1, 2, 2}, {2, 3, 1}, {3, 0, 3},
                                {0, 2, 1.5f}, {5, 4, 7}, {4, 5, 7}};
  const auto f = chutoro::detail::minimum_spanning_forest(7, e, {});
  ASSERT_EQ(f.size(), 4u);
  // Kruskal order by (w, a, b) with a < b: (0,1,1) (2,3,1) (0,2,1.5) (4,5,7).
  EXPECT_EQ(std::tie(f[0].a, f[0].b, f[0].d), std::make_tuple(0u, 1u, 1.0f));
  EXPECT_EQ(std::tie(f[1].a, f[1].b, f[1].d), std::make_tuple(2u, 3u, 1.0f));
  EXPECT_EQ(std::tie(f[2].a, f[2].b, f[2].d), std::make_tuple(0u, 2u, 1.5f));
  EXPECT_EQ(std::tie(f[3].a, f[3].b, f[3].d), std::make_tuple(4u, 5u, 7.0f));
}

TEST(MstCandidateGraph, CoreDistanceIsKthSmallestOffered) {
  std::mt19937_64 rng(777);
  const std::size_t n = 40;
  std::vector<float> dist(n * n);
  std::uniform_int_distribution<int> level(1, 12);  // integer distances: many ties
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j)
      dist[i * n + j] = dist[j * n + i] = static_cast<float>(level(rng));
  for (std::size_t ms : {1, 2, 3, 5, 9}) {
    SCOPED_TRACE("min_samples " + std::to_string(ms));
    chutoro::detail::candidate_graph g(n, ms, 16, std::size_t{1} << 30);
    std::vector<std::vector<bool>> seen(n, std::vector<bool>(n, false));
    std::uniform_int_distribution<std::size_t> pick(0, n - 1);
    for (int round = 0; round < 12; ++round) {
      for (int t = 0; t < 40; ++t) {
        const std::size_t a = pick(rng), b = pick(rng);
        if (a == b) continue;
        g.edge(static_cast<std::uint32_t>(a), static_cast<std::uint32_t>(b), dist[a * n + b]);
        if (rng() % 3 == 0)  // the same pair again, either way round
          g.edge(static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(a), dist[a * n + b]);
        seen[a][b] = seen[b][a] = true;
      }
      for (std::size_t i = 0; i < n; ++i) {
        std::vector<float> offered;
        for (std::size_t j = 0; j < n; ++j)
          if (seen[i][j]) offered.push_back(dist[i * n + j]);
        std::sort(offered.begin(), offered.end());
        const std::size_t k = ms - 1;
        const float want = k == 0 ? 0.0f : (offered.size() >= k ? offered[k - 1] : kInf);
        ASSERT_EQ(g.core_distance(i), want) << "item " << i << " after round " << round;
        ASSERT_EQ(g.known_neighbours(i), std::min(k, offered.size())) << "item " << i;
      }
    }
  }
}

TEST(MstCandidateGraph, DuplicatePairsAreNotDoubleCounted) {
  // min_samples 3: the core distance is the 2nd nearest other item.
  chutoro::detail::candidate_graph g(4, 3, 16, 1000);
  g.edge(0, 1, 1.0f);
  g.edge(1, 0, 1.0f);
  g.edge(0, 1, 1.0f);
  EXPECT_EQ(g.known_neighbours(0), 1u);
  EXPECT_EQ(g.core_distance(0), kInf);  // one distinct partner, not three
  g.edge(0, 2, 2.0f);
  EXPECT_EQ(g.core_distance(0), 2.0f);
  g.edge(2, 0, 2.0f);  // a full heap must not take the same pair again either
  g.edge(0, 3, 5.0f);
  EXPECT_EQ(g.core_distance(0), 2.0f);
  EXPECT_EQ(g.core_distance(1), kInf);
  EXPECT_EQ(g.known_neighbours(2), 1u);
}

TEST(MstCandidateGraph, CompactionExactWithFixedCores) {
  const chutoro_test::dense_data d = chutoro_test::make_blobs(150, 3, 3, 0.1, 99);
  chutoro::dense_source src(d.values, d.n, d.dim, chutoro::dense_metric::euclidean);
  const auto m = chutoro_test::ref::distance_matrix(src);
  const std::size_t n = d.n, ms = 4, k = ms - 1;
  // Phase 1: each item's true k nearest, so every core distance is final.
  std::vector<raw_edge> phase1, phase2;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<std::pair<float, std::size_t>> row;
    for (std::size_t j = 0; j < n; ++j)
      if (j != i) row.push_back({m.at(i, j), j});
    std::sort(row.begin(), row.end());
    for (std::size_t t = 0; t < k; ++t)
      phase1.push_back(
          {static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(row[t].second), row[t].first});
  }
  // Phase 2: every pair (again), in a random order.
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j)
      phase2.push_back({static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(j), m.at(i, j)});
  std::mt19937_64 rng(5);
  std::shuffle(phase2.begin(), phase2.end(), rng);
  auto run = [&](std::size_t min_edges) {
    chutoro::detail::candidate_graph g(n, ms, 1, min_edges);
    for (const raw_edge& e : phase1) g.edge(e.a, e.b, e.d);
    for (const raw_edge& e : phase2) g.edge(e.a, e.b, e.d);
    const auto compactions = g.compactions();
    return std::make_pair(g.finish(), compactions);
  };
  const auto [tiny, tiny_compactions] = run(8);
  const auto [huge, huge_compactions] = run(std::size_t{1} << 30);
  EXPECT_GT(tiny_compactions, 500u);
  EXPECT_EQ(huge_compactions, 0u);
  ASSERT_EQ(tiny.edges.size(), n - 1);
  ASSERT_EQ(huge.edges.size(), n - 1);
  EXPECT_EQ(tiny.core_distances, huge.core_distances);
  const auto core = chutoro_test::ref::core_distances(m, ms);
  EXPECT_EQ(huge.core_distances, core);
  const auto want = chutoro_test::ref::prim_mst(m, core);  // unique minimum under (w, a, b)
  for (std::size_t e = 0; e + 1 < n; ++e) {
    EXPECT_EQ(tiny.edges[e].a, huge.edges[e].a) << "edge " << e;
    EXPECT_EQ(tiny.edges[e].b, huge.edges[e].b) << "edge " << e;
    EXPECT_EQ(tiny.edges[e].distance, huge.edges[e].distance) << "edge " << e;
    EXPECT_EQ(huge.edges[e].a, want[e].a) << "edge " << e;
    EXPECT_EQ(huge.edges[e].b, want[e].b) << "edge " << e;
    EXPECT_EQ(huge.edges[e].distance, want[e].w) << "edge " << e;
  }
}

TEST(MstBuffer, PeakBoundedInRealFit) {
  const chutoro_test::dense_data d = chutoro_test::make_blobs(4000, 4, 5, 0.1, 4242);
  chutoro::dense_source src(d.values, d.n, d.dim, chutoro::dense_metric::euclidean);
  for (std::size_t factor : {1, 4})
    for (std::size_t min_edges : {std::size_t{256}, std::size_t{5000}}) {
      SCOPED_TRACE("compaction_factor " + std::to_string(factor) + ", compaction_min_edges " +
                   std::to_string(min_edges));
      chutoro::build_params bp;
      bp.candidates = chutoro::candidate_mode::hnsw;  // compaction is the hnsw mode's
      bp.compaction_factor = factor;
      bp.compaction_min_edges = min_edges;
      chutoro::fit_stats st;
      const chutoro::spanning_tree t = chutoro::build_spanning_tree(src, bp, 5, &st);
      const std::uint64_t threshold = std::max<std::uint64_t>(min_edges, factor * d.n);
      EXPECT_GT(st.compactions, 10u);
      EXPECT_GT(st.candidate_edges, 20 * threshold);  // the buffer was refilled many times
      // The documented bound: forest + threshold + what one insertion batch harvested.
      EXPECT_GT(st.max_batch_edges, 0u);
      EXPECT_LE(st.peak_buffered_edges, (d.n - 1) + threshold + st.max_batch_edges);
      EXPECT_GE(st.peak_buffered_edges, threshold);  // it did fill up to the threshold
      // Still a spanning tree with mutual-reachability weights.
      ASSERT_EQ(t.edges.size(), d.n - 1);
      chutoro::detail::union_find uf(d.n);
      for (const auto& e : t.edges) {
        ASSERT_TRUE(uf.unite(static_cast<std::uint32_t>(e.a), static_cast<std::uint32_t>(e.b)));
        const float w =
            std::max({t.core_distances[e.a], t.core_distances[e.b],
                      src.distance(static_cast<std::size_t>(e.a), static_cast<std::size_t>(e.b))});
        ASSERT_EQ(e.distance, static_cast<double>(w));
      }
    }
}

// Above 2^16 edges the split, the component filter and the weights run in
// parallel with sampled pivots: still the unique forest, in Kruskal order,
// whatever the thread count.
TEST(MstForest, LargeGraphsMatchBruteForceOnAnyThreadCount) {
  std::mt19937_64 rng(777);
  for (int levels : {0, 4}) {
    const std::size_t n = 4000;
    const auto edges = random_graph(n, 150000, levels == 0 ? 1 : 2, levels, rng);
    std::vector<float> core(n);
    std::uniform_int_distribution<int> c(0, 6);
    for (float& x : core) x = static_cast<float>(c(rng));
    const auto want = brute_forest(n, edges, core);
    for (int threads : {1, 2}) {
      const int saved = omp_get_max_threads();
      omp_set_num_threads(threads);
      const auto got = chutoro::detail::minimum_spanning_forest(n, edges, core);
      omp_set_num_threads(saved);
      ASSERT_EQ(got.size(), want.size()) << "threads " << threads << ", levels " << levels;
      for (std::size_t k = 0; k < got.size(); ++k) {
        ASSERT_EQ(got[k].a, want[k].a) << "edge " << k << ", threads " << threads;
        ASSERT_EQ(got[k].b, want[k].b) << "edge " << k << ", threads " << threads;
        ASSERT_EQ(std::max({core[got[k].a], core[got[k].b], got[k].d}),
                  std::max({core[want[k].a], core[want[k].b], want[k].d}));
      }
    }
  }
}

TEST(MstCandidateGraph, FinishAndCompactIsLossless) {
  std::mt19937_64 rng(123);
  const std::size_t n = 400, ms = 5;
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<std::array<float, 2>> pts(n);
  for (auto& p : pts) p = {u(rng), u(rng)};
  auto dist = [&](std::uint32_t a, std::uint32_t b) {
    return std::hypot(pts[a][0] - pts[b][0], pts[a][1] - pts[b][1]);
  };
  chutoro::detail::candidate_graph all(n, ms, 1, std::size_t{1} << 30),
      compacted(n, ms, 1, std::size_t{1} << 30);
  std::size_t offered = 0;
  for (int round = 0; round < 8; ++round) {
    for (int e = 0; e < 3000; ++e) {
      const auto a = static_cast<std::uint32_t>(rng() % n), b = static_cast<std::uint32_t>(rng() % n);
      if (a == b) continue;
      all.edge(a, b, dist(a, b));
      compacted.edge(a, b, dist(a, b));
      ++offered;
    }
    const chutoro::spanning_tree want = all.finish(), got = compacted.finish_and_compact();
    ASSERT_EQ(got.edges.size(), want.edges.size()) << "round " << round;
    for (std::size_t e = 0; e < want.edges.size(); ++e) {
      EXPECT_EQ(got.edges[e].a, want.edges[e].a) << "round " << round << " edge " << e;
      EXPECT_EQ(got.edges[e].b, want.edges[e].b) << "round " << round << " edge " << e;
      EXPECT_EQ(got.edges[e].distance, want.edges[e].distance) << "round " << round << " edge " << e;
    }
    EXPECT_EQ(got.core_distances, want.core_distances);
    EXPECT_EQ(compacted.harvested(), all.harvested());
  }
  EXPECT_EQ(all.compactions(), 0u);
  EXPECT_LT(compacted.forest().size() + compacted.buffered().size(), offered / 4);
}

TEST(MstCandidateGraph, NeighbourPairsGiveBackEdgesACompactionDropped) {
  // min_samples 3: the core distance is the 2nd nearest other item. Items 1,
  // 2, 3, 5 are a dense group; item 0 meets 3 (d 4) and 1 (d 5), so while it
  // knows only these two its estimate is 5 and both edges weigh 5: the
  // compaction keeps (0, 1) by the tie order and drops (0, 3). Item 4 then
  // brings core(0) down to 4.5, so (0, 3) would weigh 4.5 and (0, 1) still 5.
  auto build = [] {
    chutoro::detail::candidate_graph g(6, 3, 16, std::size_t{1} << 20);
    for (const raw_edge& e : std::vector<raw_edge>{{1, 2, 1.0f},
                                                   {2, 3, 1.0f},
                                                   {1, 3, 1.5f},
                                                   {3, 5, 1.0f},
                                                   {1, 5, 1.2f},
                                                   {2, 5, 1.1f},
                                                   {0, 1, 5.0f},
                                                   {0, 3, 4.0f}})
      g.edge(e.a, e.b, e.d);
    g.compact();
    g.edge(0, 4, 4.5f);
    g.edge(4, 5, 6.0f);
    return g;
  };
  auto weight_of = [](const chutoro::spanning_tree& t, std::int64_t a, std::int64_t b) {
    for (const auto& e : t.edges)
      if ((e.a == a && e.b == b) || (e.a == b && e.b == a)) return e.distance;
    return -1.0;
  };
  chutoro::detail::candidate_graph without = build(), with = build();
  const chutoro::spanning_tree lossy = without.finish();
  EXPECT_EQ(lossy.core_distances[0], 4.5f);
  EXPECT_EQ(weight_of(lossy, 0, 1), 5.0);  // the heavier edge replaces (0, 3)
  EXPECT_EQ(weight_of(lossy, 0, 3), -1.0);
  EXPECT_GT(with.buffer_neighbour_edges(), 0u);
  const chutoro::spanning_tree got = with.finish();
  EXPECT_EQ(weight_of(got, 0, 3), 4.5);  // back, at max(core(0) = 4.5, core(3) = 1, d = 4)
  EXPECT_EQ(weight_of(got, 0, 1), -1.0);
  EXPECT_EQ(got.core_distances, lossy.core_distances);
  EXPECT_EQ(with.buffer_neighbour_edges(), 0u);  // no list changed since

  // A pair offered to one side only (a search's offer) reaches the other's list.
  chutoro::detail::candidate_graph g(3, 2, 16, std::size_t{1} << 20);
  const std::vector<raw_edge> none, offers{{0, 1, 2.0f}};
  const std::vector<std::span<const raw_edge>> e{none}, o{offers};
  g.absorb(e, o);
  EXPECT_EQ(g.known_neighbours(1), 0u);
  EXPECT_EQ(g.buffer_neighbour_edges(), 1u);  // (0, 1), once
  EXPECT_EQ(g.core_distance(1), 2.0f);
  ASSERT_EQ(g.buffered().size(), 1u);
  EXPECT_EQ(g.buffered()[0].d, 2.0f);
}
