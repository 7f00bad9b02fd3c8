// test_hnsw.cpp — the HNSW graph stage (src/core/hnsw/hnsw.hpp) and the
// quality of the default (hnsw) mode on the real data.
//
// What the tests prove:
//  - HnswRecall.*: at chutoro::build_params' defaults (m, ef_construction), a
//    search with ef = ef_construction finds the true 10 nearest neighbours
//    (brute force over the same float distances) with recall >= 0.95, on
//    5000 x 16 Gaussian blobs and on 2000 x 8 uniform points.
//  - HnswDeterminism.SameSeedSameGraph: a build on one thread and a build on
//    two with one seed compute the same number of distances, harvest the same
//    multiset of edges, answer every search identically, and give the same
//    spanning tree through build_spanning_tree.
//  - HnswSearch.NeverHarvestsTheQueryItself: search() hands no (q, q) pair to
//    the harvest (candidate_graph::edge requires a != b: a self pair would count
//    the item as its own neighbour at distance 0 and shrink its core distance).
//  - HnswCore.NeverBelowExact: a core distance estimated from harvested
//    distances is the k-th smallest of a subset of the true distances, so it can
//    never be smaller than the exact core distance (FISHDBC's invariant), also
//    when min_samples is large enough for fit's fallback search to run.
//  - HnswHarvest.TriangleRuleKeepsTreeWeightAndCoreDistances: with no
//    compaction, the harvest with the triangle rule gives the same core
//    distances and a spanning tree of exactly the same weight as keeping every
//    pair an insertion compares, with fewer than 3/4 of the edges.
//  - QualityDefaultVsExact.*: on digits.csv, clusterable_data.npy and
//    chameleon_ds3.csv (full files, default params, min_cluster_size 5) the
//    default hnsw mode's labels agree with the exact mode's at ARI >= 0.95.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <chutoro/chutoro.hpp>
#include <cstdio>
#include <mutex>
#include <span>
#include <thread>
#include <tuple>
#include <vector>

#include "core/hnsw/hnsw.hpp"
#include "test_data.hpp"

namespace {

using namespace chutoro_test;

struct source_distance {
  const chutoro::data_source* src;
  float operator()(std::uint32_t a, std::uint32_t b) const { return src->distance(a, b); }
};

using index = chutoro::detail::hnsw_index<source_distance>;

// Builds an index over all items in batches as fit() does (one worker per thread).
struct built {
  chutoro::detail::hnsw_graph graph;
  index idx;
  std::vector<index::worker> workers;
  built(const chutoro::data_source& src, std::size_t m, std::size_t ef, std::uint64_t seed, int threads = 1)
      : graph(m, ef, seed), idx(graph, source_distance{&src}) {
    graph.grow(src.size());
    for (int t = 0; t < threads; ++t) workers.emplace_back(src.size());
    std::vector<std::uint32_t> ids(src.size());
    for (std::uint32_t i = 0; i < ids.size(); ++i) ids[i] = i;
    for (std::size_t done = 0; done < ids.size();) {
      const std::size_t batch = chutoro::detail::next_batch(done, 32, ids.size() - done);
      idx.insert_batch(std::span(ids).subspan(done, batch), workers);
      done += batch;
    }
  }
  // Harvested edges and offers (distance stored as -d - 1) of all workers,
  // sorted (a multiset: the order across workers is free).
  std::vector<std::tuple<std::uint32_t, std::uint32_t, float>> harvest() const {
    std::vector<std::tuple<std::uint32_t, std::uint32_t, float>> out;
    for (const auto& w : workers)
      for (const auto* buffer : {&w.edges, &w.offers})
        for (const auto& e : *buffer) out.emplace_back(e.a, e.b, buffer == &w.edges ? e.d : -e.d - 1);
    std::sort(out.begin(), out.end());
    return out;
  }
  std::uint64_t computed() const {
    std::uint64_t c = 0;
    for (const auto& w : workers) c += w.computed;
    return c;
  }
  std::size_t self_pairs() const {
    std::size_t c = 0;
    for (const auto& w : workers)
      for (const auto* buffer : {&w.edges, &w.offers})
        for (const auto& e : *buffer) c += e.a == e.b;
    return c;
  }
};

// Mean recall@k of search(q, k, ef) over `queries` items, against brute force.
double recall_at(const dense_data& d, std::size_t k, std::size_t queries) {
  chutoro::dense_source src(d.values, d.n, d.dim, chutoro::dense_metric::euclidean);
  const chutoro::build_params defaults;
  built b(src, defaults.m, defaults.ef_construction, defaults.seed);
  std::size_t hits = 0;
  const std::size_t step = d.n / queries;
  for (std::size_t qi = 0; qi < queries; ++qi) {
    const auto q = static_cast<std::uint32_t>(qi * step);
    std::vector<std::pair<float, std::uint32_t>> all;
    for (std::uint32_t j = 0; j < d.n; ++j)
      if (j != q) all.push_back({src.distance(q, j), j});
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end());
    const auto got = b.idx.search(q, k, defaults.ef_construction, b.workers[0]);
    for (std::size_t t = 0; t < k; ++t)
      hits += std::any_of(got.begin(), got.end(), [&](const auto& s) { return s.id == all[t].second; });
  }
  return static_cast<double>(hits) / static_cast<double>(k * queries);
}

}  // namespace

TEST(HnswRecall, GaussianBlobs5000x16) {
  const double r = recall_at(make_blobs(5000, 16, 10, 0.0, 16), 10, 1000);
  std::printf("[ recall@10 ] 5000 x 16 blobs: %.4f\n", r);
  EXPECT_GE(r, 0.95);
}

TEST(HnswRecall, Uniform2000x8) {
  const double r = recall_at(make_uniform(2000, 8, 8), 10, 1000);
  std::printf("[ recall@10 ] 2000 x 8 uniform: %.4f\n", r);
  EXPECT_GE(r, 0.95);
}

TEST(HnswDeterminism, SameSeedSameGraph) {
  const dense_data d = make_blobs(3000, 8, 6, 0.05, 3);
  chutoro::dense_source src(d.values, d.n, d.dim, chutoro::dense_metric::euclidean);
  // One thread and two threads: the batch schedule, not the thread count or
  // timing, fixes the graph, so both builds must agree exactly.
  built b1(src, 16, 100, 42, 1);
  built b2(src, 16, 100, 42, 2);
  EXPECT_EQ(b1.computed(), b2.computed());
  EXPECT_GT(b1.computed(), d.n * 100);
  EXPECT_TRUE(b1.harvest() == b2.harvest()) << "the harvested edge multisets differ";
  for (std::uint32_t q = 0; q < d.n; q += 7) {
    const auto r1 = b1.idx.search(q, 10, 50, b1.workers[0]);
    const auto r2 = b2.idx.search(q, 10, 50, b2.workers[0]);
    ASSERT_EQ(r1.size(), r2.size());
    for (std::size_t t = 0; t < r1.size(); ++t) {
      EXPECT_EQ(r1[t].id, r2[t].id) << "query " << q;
      EXPECT_EQ(r1[t].d, r2[t].d) << "query " << q;
    }
  }
  EXPECT_EQ(b1.computed(), b2.computed());
  // And through the public API: the same seed gives the same spanning tree,
  // with one thread and with two.
  chutoro::build_params bp;
  bp.candidates = chutoro::candidate_mode::hnsw;  // the test is about the HNSW build
  bp.seed = 7;
  bp.threads = 1;
  const auto t1 = chutoro::build_spanning_tree(src, bp, 5);
  bp.threads = 2;
  const auto t2 = chutoro::build_spanning_tree(src, bp, 5);
  ASSERT_EQ(t1.edges.size(), t2.edges.size());
  for (std::size_t e = 0; e < t1.edges.size(); ++e) {
    EXPECT_EQ(t1.edges[e].a, t2.edges[e].a);
    EXPECT_EQ(t1.edges[e].b, t2.edges[e].b);
    EXPECT_EQ(t1.edges[e].distance, t2.edges[e].distance);
  }
}

TEST(HnswSearch, NeverHarvestsTheQueryItself) {
  const dense_data d = make_blobs(300, 4, 3, 0.1, 7);
  chutoro::dense_source src(d.values, d.n, d.dim, chutoro::dense_metric::euclidean);
  built b(src, 16, 100, 42, 2);
  EXPECT_EQ(b.self_pairs(), 0u) << "self pairs harvested while inserting";
  for (std::uint32_t q = 0; q < d.n; ++q) {
    const auto found = b.idx.search(q, 10, 100, b.workers[0]);
    for (const auto& s : found) ASSERT_NE(s.id, q);
  }
  EXPECT_EQ(b.self_pairs(), 0u) << "search(q, ...) harvested (q, q, 0) for " << b.self_pairs() << " of "
                                << d.n << " queries";
}

TEST(HnswCore, NeverBelowExact) {
  const dense_data d = make_blobs(1000, 2, 3, 0.1, 1);
  chutoro::dense_source src(d.values, d.n, d.dim, chutoro::dense_metric::euclidean);
  for (std::size_t ms : {5, 60, 150}) {
    chutoro::build_params bp;  // defaults: m 16, ef_construction 100
    const auto h = chutoro::build_spanning_tree(src, bp, ms);
    bp.candidates = chutoro::candidate_mode::exact;
    bp.threads = 1;  // exact Prim opens one OpenMP region per step: slow on a busy 2-core machine
    const auto e = chutoro::build_spanning_tree(src, bp, ms);
    std::size_t below = 0, first = d.n;
    for (std::size_t i = 0; i < d.n; ++i)
      if (h.core_distances[i] < e.core_distances[i]) ++below, first = std::min(first, i);
    EXPECT_EQ(below, 0u) << "min_samples " << ms << ": " << below
                         << " hnsw core distances below the exact ones"
                         << (below ? "; first: item " + std::to_string(first) + ", " +
                                         std::to_string(h.core_distances[first]) + " < " +
                                         std::to_string(e.core_distances[first])
                                   : std::string());
  }
}

// The triangle rule (select_harvest) leaves out only pairs that are strictly
// the heaviest of a triangle of kept edges under mutual reachability, and
// offers them instead: without compaction, the spanning tree of the harvest
// with the rule weighs exactly what the tree of every pair weighs, and the
// core distances are the same.
TEST(HnswHarvest, TriangleRuleKeepsTreeWeightAndCoreDistances) {
  using hnsw_t = chutoro::detail::hnsw_index<source_distance>;
  for (const std::size_t ms : {1, 5, 12}) {
    const dense_data d = make_blobs(2500, 6, 5, 0.1, 11);
    chutoro::dense_source src(d.values, d.n, d.dim, chutoro::dense_metric::euclidean);
    struct run {
      std::size_t edges = 0;
      chutoro::spanning_tree tree;
    };
    auto harvest = [&](bool rule) {
      chutoro::detail::hnsw_graph graph(16, 100, 42);
      graph.grow(d.n);
      hnsw_t idx(graph, source_distance{&src});
      // No compaction (the threshold is above the ~1.5M pairs harvested without
      // the rule; the test checks it): the final tree is the MST of all kept edges.
      chutoro::detail::candidate_graph cg(d.n, ms, 4, std::size_t{1} << 22);
      if (rule) idx.set_core_estimates(cg.core_estimates(), cg.k());
      std::vector<hnsw_t::worker> workers;
      workers.emplace_back(d.n);
      workers.emplace_back(d.n);
      std::vector<std::uint32_t> ids(d.n);
      for (std::uint32_t i = 0; i < ids.size(); ++i) ids[i] = i;
      run r;
      for (std::size_t done = 0; done < ids.size();) {
        const std::size_t batch = chutoro::detail::next_batch(done, 32, d.n - done);
        idx.insert_batch(std::span(ids).subspan(done, batch), workers);
        done += batch;
        std::vector<std::span<const chutoro::detail::raw_edge>> edges, offers;
        for (auto& w : workers)
          edges.emplace_back(w.edges), offers.emplace_back(w.offers), r.edges += w.edges.size();
        cg.absorb(edges, offers);
        for (auto& w : workers) w.edges.clear(), w.offers.clear();
      }
      r.tree = cg.finish();
      EXPECT_EQ(cg.compactions(), 0u);
      return r;
    };
    const run with = harvest(true), without = harvest(false);
    double w1 = 0, w0 = 0;
    for (const auto& e : with.tree.edges) w1 += e.distance;
    for (const auto& e : without.tree.edges) w0 += e.distance;
    EXPECT_EQ(with.tree.core_distances, without.tree.core_distances) << "min_samples " << ms;
    EXPECT_DOUBLE_EQ(w1, w0) << "min_samples " << ms;
    EXPECT_LT(with.edges, without.edges * 3 / 4)
        << "min_samples " << ms << ": the rule should leave pairs out";
  }
}

// ---------------------------------------------------------------------------
// Default-mode quality on the real data.

namespace {

void expect_default_close_to_exact(const std::string& name, const dense_data& d) {
  chutoro::dense_source src(d.values, d.n, d.dim, chutoro::dense_metric::euclidean);
  chutoro::params p;  // defaults (min_cluster_size 5), but hnsw: auto would be exact here
  p.build.candidates = chutoro::candidate_mode::hnsw;
  const auto t0 = std::chrono::steady_clock::now();
  const chutoro::result h = chutoro::fit(src, p);
  const auto t1 = std::chrono::steady_clock::now();
  p.build.candidates = chutoro::candidate_mode::exact;
  p.build.threads = 1;  // exact Prim opens one OpenMP region per step: slow on a busy 2-core machine
  const chutoro::result e = chutoro::fit(src, p);
  const auto t2 = std::chrono::steady_clock::now();
  const double ari = adjusted_rand(h.labels, e.labels);
  double wh = 0, we = 0;
  for (const auto& x : h.tree.edges) wh += x.distance;
  for (const auto& x : e.tree.edges) we += x.distance;
  std::printf(
      "[ quality ] %s (%zu x %zu): ARI(hnsw, exact) %.4f, clusters %zu / %zu, MST weight ratio %.5f, "
      "fit %.2f s / %.2f s\n",
      name.c_str(), d.n, d.dim, ari, h.n_clusters(), e.n_clusters(), wh / we,
      std::chrono::duration<double>(t1 - t0).count(), std::chrono::duration<double>(t2 - t1).count());
  EXPECT_GE(ari, 0.95) << name;
  EXPECT_GE(wh, we) << name;  // the approximation can only lose
}

}  // namespace

TEST(QualityDefaultVsExact, Digits) {
  expect_default_close_to_exact("digits.csv", load_csv(data_path("digits.csv"), true));
}

TEST(QualityDefaultVsExact, ClusterableData) {
  expect_default_close_to_exact("clusterable_data.npy", load_npy(data_path("clusterable_data.npy")));
}

TEST(QualityDefaultVsExact, ChameleonDs3) {
  expect_default_close_to_exact("chameleon_ds3.csv", load_csv(data_path("chameleon_ds3.csv"), false));
}

// The build's barrier (team.hpp): every phase's completion runs exactly once,
// on one thread, after all threads arrived and before any leaves; also when
// threads oversubscribe the cores (they then sleep instead of spinning).
TEST(HnswTeamBarrier, CompletionRunsOncePerPhaseBeforeAnyThreadLeaves) {
  for (const int threads : {1, 2, 4}) {
    chutoro::detail::team_barrier barrier(threads);
    constexpr int kPhases = 500;
    std::vector<int> arrived(kPhases, 0);  // written by each thread before it arrives
    std::vector<int> completed(kPhases, 0);
    std::atomic<int> wrong{0};
    std::vector<std::thread> team;
    for (int t = 0; t < threads; ++t)
      team.emplace_back([&] {
        for (int p = 0; p < kPhases; ++p) {
          {
            static std::mutex m;
            std::lock_guard<std::mutex> lock(m);
            ++arrived[static_cast<std::size_t>(p)];
          }
          barrier.arrive_and_wait([&] {
            if (arrived[static_cast<std::size_t>(p)] != threads) ++wrong;
            ++completed[static_cast<std::size_t>(p)];
          });
          if (completed[static_cast<std::size_t>(p)] != 1) ++wrong;  // seen by every thread after the barrier
        }
      });
    for (auto& th : team) th.join();
    EXPECT_EQ(wrong.load(), 0) << threads << " threads";
    EXPECT_EQ(std::count(completed.begin(), completed.end(), 1), kPhases);
  }
}
