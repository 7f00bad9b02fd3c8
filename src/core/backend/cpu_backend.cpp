// chutoro — the CPU backend (backend.hpp): OpenMP threads, FISHDBC's HNSW
// build with candidate harvest, the exact mode's tiled core distances and
// Prim's tree, Filter-Kruskal forests, per-pair kernels for distance tiles.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <random>
#include <string_view>
#include <vector>

#include "core/backend/backend.hpp"
#include "core/distance_dispatch.hpp"
#include "core/mst/exact.hpp"
#include "core/mst/exact_tree.hpp"

namespace chutoro::detail {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// The OpenMP thread count of the calling thread, restored on destruction.
class omp_scope final : public execution_scope {
 public:
  explicit omp_scope(int threads) : saved_(omp_get_max_threads()) {
    if (threads > 0) omp_set_num_threads(threads);
  }
  ~omp_scope() override { omp_set_num_threads(saved_); }
  omp_scope(const omp_scope&) = delete;
  omp_scope& operator=(const omp_scope&) = delete;

 private:
  int saved_;
};

/// kNN refinement after the graph build (docs/algorithm.md, "kNN
/// refinement"). The build's k-nearest lists miss the true neighbours of a
/// few extreme outliers: inserted early, their own search saw a small graph,
/// and later insertions, which stop at their own neighbours, never measure
/// them again. Their wrong (too large) core distances make the heaviest
/// spanning-tree edges heavier and can flip the excess-of-mass choice at the
/// top of the condensed tree. Two steps, in parallel over the items:
///  1. the items whose core-distance estimates are the largest kRefineTop
///     (3%) of all, or above kRefineRatio times the mean of their
///     neighbours', and items that met fewer than k others, search the
///     finished graph (beam 2 ef_construction); what the search
///     computes is harvested as an insertion's is (hnsw_index::search: the
///     pairs it ends with become candidate edges, the rest are offers);
///  2. the (at most kRefineAllPairs = 1,024) flagged items with the largest
///     estimates are measured against each other, each keeping its k
///     nearest as candidate edges: an outlier's true neighbours are mostly
///     other outliers, which the graph links poorly, so step 1 misses some;
///  3. each flagged item is joined with its neighbours' neighbours (NN-descent's
///     local join, Dong, Charikar & Li 2011): d(i, l) for l in N(j), j in
///     N(i), each pair a candidate edge.
/// Cost: a search and up to k^2 distances per flagged item (3-4% of the
/// items); items whose lists look sound are not touched. On shuttle
/// (min_cluster_size 5, seed 2) the 49 too-large core distances all were in
/// the top 0.6% of the exact ones.
/// Deterministic: the flagged set and each search depend on the graph and
/// the lists only, and absorb() is order independent.
inline constexpr float kRefineRatio = 2.0f;
inline constexpr double kRefineTop = 0.03;
inline constexpr std::size_t kRefineAllPairs = 1024;

/// d(i, xs[k]) for every k (xs must not hold i): one batch call where the
/// distance has one (distance_dispatch.hpp), else one call per pair.
template <class Distance>
std::vector<float> distances_from(const Distance& dist, std::uint32_t i, std::span<const std::uint32_t> xs) {
  std::vector<float> d(xs.size());
  if constexpr (requires(float* o) { dist.batch(i, xs, o); }) {
    if (!xs.empty()) dist.batch(i, xs, d.data());
  } else {
    for (std::size_t k = 0; k < xs.size(); ++k) d[k] = dist(i, xs[k]);
  }
  return d;
}

template <class Index, class Distance, class Absorb>
void refine_knn(Index& hnsw, candidate_graph& cg, const Distance& dist,
                std::span<typename Index::worker> workers, const build_params& bp, Absorb&& absorb) {
  const std::size_t n = cg.size(), k = cg.k();
  if (k == 0 || hnsw.inserted() < 2) return;
  const auto core = cg.core_estimates();
  const auto ids = cg.knn_ids();
  // CHUTORO_REFINE=0 turns the stage off (for measurements): only items that
  // met fewer than k others are searched, as before the stage existed.
  const char* env = std::getenv("CHUTORO_REFINE");
  const bool on = !(env && std::string_view(env) == "0");
  // the estimate of rank n (1 - kRefineTop): items at or above it are flagged
  float cut = std::numeric_limits<float>::infinity();
  if (on) {
    std::vector<float> sorted(core.begin(), core.end());
    const auto r = static_cast<std::size_t>(static_cast<double>(n) * (1.0 - kRefineTop));
    if (r < n) {
      std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(r), sorted.end());
      cut = sorted[r];
    }
  }
  std::vector<std::uint32_t> flagged;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t known = cg.known_neighbours(i);
    if (known < k) {
      flagged.push_back(static_cast<std::uint32_t>(i));
      continue;
    }
    if (!on) continue;
    if (core[i] >= cut && core[i] > 0) {
      flagged.push_back(static_cast<std::uint32_t>(i));
      continue;
    }
    double sum = 0;
    for (std::size_t s = 0; s < k; ++s) sum += core[ids[i * k + s]];
    if (static_cast<double>(core[i]) * static_cast<double>(k) > static_cast<double>(kRefineRatio) * sum)
      flagged.push_back(static_cast<std::uint32_t>(i));
  }
  if (flagged.empty()) return;
  const std::size_t ef = std::max(2 * bp.ef_construction, k);
  // In chunks, so the edges held between two absorb() calls stay within
  // about kRefineChunk x ef (a batch's harvest is of the same order).
  constexpr std::size_t kRefineChunk = 1024;
  for (std::size_t c = 0; c < flagged.size(); c += kRefineChunk) {
    const auto chunk = std::span(flagged).subspan(c, std::min(kRefineChunk, flagged.size() - c));
    parallel_for(chunk.size(), [&](std::size_t f) {
      hnsw.search(chunk[f], k, ef, workers[static_cast<std::size_t>(omp_get_thread_num())]);
    });
    absorb();
  }
  if (!on) return;
  // The outliers' true neighbours are mostly other outliers, which the graph
  // links poorly: the kRefineAllPairs flagged items with the largest
  // estimates are measured against each other, each keeping its k nearest
  // as candidate edges.
  {
    std::vector<std::uint32_t> top(flagged);
    if (top.size() > kRefineAllPairs) {
      std::nth_element(top.begin(), top.begin() + static_cast<std::ptrdiff_t>(kRefineAllPairs), top.end(),
                       [&](std::uint32_t a, std::uint32_t b) {
                         return core[a] > core[b] || (core[a] == core[b] && a < b);
                       });
      top.resize(kRefineAllPairs);
    }
    // Each pair measured once (d(i, l) for f < g, mirrored): t^2 / 2
    // distances, a t x t matrix (4 MiB at t = 1,024).
    const std::size_t t = top.size();
    std::vector<float> pair(t * t, 0.0f);
    parallel_for(t, [&](std::size_t f) {
      auto& w = workers[static_cast<std::size_t>(omp_get_thread_num())];
      const std::vector<float> d = distances_from(dist, top[f], std::span(top).subspan(f + 1));
      std::copy(d.begin(), d.end(), pair.begin() + static_cast<std::ptrdiff_t>(f * t + f + 1));
      w.computed += d.size();
    });
    parallel_for(t, [&](std::size_t f) {
      auto& w = workers[static_cast<std::size_t>(omp_get_thread_num())];
      const std::uint32_t i = top[f];
      std::vector<std::pair<float, std::uint32_t>> near;
      near.reserve(t);
      for (std::size_t g = 0; g < t; ++g)
        if (g != f) near.emplace_back(g > f ? pair[f * t + g] : pair[g * t + f], top[g]);
      const std::size_t keep = std::min(k, near.size());
      std::partial_sort(near.begin(), near.begin() + static_cast<std::ptrdiff_t>(keep), near.end());
      for (std::size_t r = 0; r < keep; ++r) w.edges.push_back({i, near[r].second, near[r].first});
    });
    absorb();
  }
  parallel_for(flagged.size(), [&](std::size_t f) {
    auto& w = workers[static_cast<std::size_t>(omp_get_thread_num())];
    const std::uint32_t i = flagged[f];
    const auto own = ids.subspan(std::size_t{i} * k, cg.known_neighbours(i));
    std::vector<std::uint32_t> join;
    for (const std::uint32_t j : own)
      for (const std::uint32_t l : ids.subspan(std::size_t{j} * k, cg.known_neighbours(j)))
        if (l != i && std::find(own.begin(), own.end(), l) == own.end()) join.push_back(l);
    std::sort(join.begin(), join.end());
    join.erase(std::unique(join.begin(), join.end()), join.end());
    const std::vector<float> d = distances_from(dist, i, join);
    for (std::size_t r = 0; r < join.size(); ++r) w.edges.push_back({i, join[r], d[r]});
    w.computed += join.size();
  });
  absorb();
}

template <class Distance>
spanning_tree extend_with(hnsw_state& s, std::size_t n, const build_params& bp, const Distance& dist,
                          fit_stats& stats, const progress_fn& progress, bool refine = true) {
  using index_t = hnsw_index<Distance>;
  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t first = s.graph.inserted;
  s.graph.grow(n);
  s.candidates.grow(n);
  index_t hnsw(s.graph, dist);
  const auto threads = static_cast<std::size_t>(std::max(omp_get_max_threads(), 1));
  std::vector<typename index_t::worker> workers;
  workers.reserve(threads);
  for (std::size_t t = 0; t < threads; ++t) workers.emplace_back(n);
  hnsw.set_core_estimates(s.candidates.core_estimates(), s.candidates.k());
  auto absorb = [&] {
    std::vector<std::span<const raw_edge>> edges, offers;
    std::uint64_t harvested = 0;
    for (auto& w : workers)
      edges.emplace_back(w.edges), offers.emplace_back(w.offers), harvested += w.edges.size();
    stats.max_batch_edges = std::max(stats.max_batch_edges, harvested);
    s.candidates.absorb(edges, offers);
    for (auto& w : workers) w.edges.clear(), w.offers.clear();
  };
  const std::uint64_t harvested_before = s.candidates.harvested();
  const std::uint64_t compactions_before = s.candidates.compactions();
  // Insert in a seeded random order: inputs sorted by some key (word lists,
  // files grouped by class) otherwise build a poorly navigable graph. Batches
  // grow with the graph (a quarter of the items inserted, at most batch_size),
  // independently of the thread count, so the result is too.
  std::vector<std::uint32_t> order(n - first);
  std::iota(order.begin(), order.end(), static_cast<std::uint32_t>(first));
  std::mt19937_64 rng(bp.seed ^ 0x9E3779B97F4A7C15ull ^ (0xD1B54A32D192ED03ull * first));
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  progress_ticker tick([&](std::size_t done) {
    if (progress) progress("graph", done, order.size());
  });
  // One OpenMP parallel region inserts the batches (hnsw_index::insert_team):
  // after each batch the team offers the harvest to the k-nearest lists (each
  // thread its share of the items), one thread buffers the edges; when the
  // buffer reaches the threshold the team stops and the compaction runs with
  // all threads between two regions.
  auto spans = [&](auto member) {
    std::vector<std::span<const raw_edge>> v;
    v.reserve(workers.size());
    for (auto& w : workers) v.emplace_back(w.*member);
    return v;
  };
  using worker_t = typename index_t::worker;
  for (std::size_t done = 0; done < order.size();) {
    bool compact = false;
    done += hnsw.insert_team(
        std::span(order).subspan(done),
        [&](std::size_t inserted, std::size_t left) { return next_batch(inserted, bp.batch_size, left); },
        workers,
        [&](int t, int threads) {
          s.candidates.absorb_part(spans(&worker_t::edges), spans(&worker_t::offers),
                                   static_cast<std::uint32_t>(t), static_cast<std::uint32_t>(threads));
        },
        [&](std::size_t inserted) {
          const auto edges = spans(&worker_t::edges);
          std::uint64_t harvested = 0;
          for (const auto& e : edges) harvested += e.size();
          stats.max_batch_edges = std::max(stats.max_batch_edges, harvested);
          s.candidates.set_items_seen(first + done + inserted);
          compact = s.candidates.buffer(edges);
          for (auto& w : workers) w.edges.clear(), w.offers.clear();
          return !compact;
        },
        [&](std::size_t inserted) { tick(done + inserted); });
    if (compact) s.candidates.compact();
    tick(done, done == order.size());
  }
  if (refine) refine_knn(hnsw, s.candidates, dist, std::span(workers), bp, absorb);
  for (const auto& w : workers) stats.distance_computations += w.computed;
  stats.seconds_graph += seconds_since(t0);
  const auto t1 = std::chrono::steady_clock::now();
  // The k-nearest pairs as edges (docs/algorithm.md): no distance computed.
  (void)s.candidates.buffer_neighbour_edges();
  spanning_tree tree = s.candidates.finish_and_compact();  // what add() continues from
  stats.candidate_edges += s.candidates.harvested() - harvested_before;
  stats.peak_buffered_edges = std::max(stats.peak_buffered_edges, s.candidates.peak_buffered());
  stats.compactions += s.candidates.compactions() - compactions_before;
  stats.seconds_mst += seconds_since(t1);
  return tree;
}

template <class Distance>
void tile_with(const Distance& dist, std::span<const std::uint32_t> rows, std::span<const std::uint32_t> cols,
               std::span<float> out) {
  if constexpr (requires(std::span<const std::uint32_t> xs, float* o) { dist.batch(0u, xs, o); }) {
    // One batch per row (the row's item against the columns, itself left out).
    std::vector<std::uint32_t> others;
    std::vector<float> d;
    for (std::size_t r = 0; r < rows.size(); ++r) {
      float* o = out.data() + r * cols.size();
      const std::uint32_t a = rows[r];
      others.clear();
      for (const std::uint32_t c : cols)
        if (c != a) others.push_back(c);
      d.resize(others.size());
      if (!others.empty()) dist.batch(a, std::span<const std::uint32_t>(others), d.data());
      for (std::size_t c = 0, k = 0; c < cols.size(); ++c) o[c] = cols[c] == a ? 0.0f : d[k++];
    }
  } else {
    for (std::size_t r = 0; r < rows.size(); ++r) {
      float* o = out.data() + r * cols.size();
      const std::uint32_t a = rows[r];
      for (std::size_t c = 0; c < cols.size(); ++c) o[c] = cols[c] == a ? 0.0f : dist(a, cols[c]);
    }
  }
}

}  // namespace

hnsw_state::hnsw_state(const build_params& bp, std::shared_ptr<const forest_solver> solver)
    : graph(bp.m, bp.ef_construction, bp.seed),
      candidates(0, bp.min_samples.value(), bp.compaction_factor, bp.compaction_min_edges,
                 std::move(solver)) {}

std::unique_ptr<execution_scope> cpu_backend::enter(int threads) const {
  return std::make_unique<omp_scope>(threads);
}

spanning_tree cpu_backend::extend_hnsw(hnsw_state& s, const data_source& data, const build_params& bp,
                                       fit_stats& stats, const progress_fn& progress) const {
  return with_distance(
      data, [&](const auto& dist) { return extend_with(s, data.size(), bp, dist, stats, progress); });
}

void cpu_backend::insert_hnsw(hnsw_state& s, const data_source& data, const build_params& bp,
                              fit_stats& stats) const {
  with_distance(data, [&](const auto& dist) {
    (void)extend_with(s, data.size(), bp, dist, stats, {}, false);
    return 0;
  });
}

spanning_tree backend::build_knn(const data_source&, const build_params&, fit_stats&,
                                 const progress_fn&) const {
  throw error(error_code::unsupported,
              "candidates = knn (GPU kNN candidates) runs on a CUDA GPU only, and this fit runs on the CPU "
              "(device=cpu, or device=auto, which never picks the GPU kNN stage): use device=cuda, or "
              "candidates = hnsw (FISHDBC) or exact on the CPU");
}

spanning_tree cpu_backend::build_exact(const data_source& data, const build_params& bp, fit_stats& stats,
                                       const progress_fn& progress) const {
  const std::size_t n = data.size();
  const auto t0 = std::chrono::steady_clock::now();
  progress_ticker core_tick([&](std::size_t done) {
    if (progress) progress("core distances", done, n);
  });
  if (exact_tree_supports(data) && exact_tree_preferred(n, data.dim())) {
    // Dense euclidean / manhattan at low dimension: the kd-tree (same tree as Prim's below).
    progress_ticker mst_tick([&](std::size_t done) {
      if (progress) progress("mst", done, n);
    });
    exact_tree_counters c;
    spanning_tree tree = exact_tree_spanning_tree(data, bp.min_samples.value(), c, &core_tick, &mst_tick);
    stats.distance_computations += c.core_pairs + c.mst_pairs;
    stats.candidate_edges += c.mst_pairs;
    stats.seconds_graph += c.seconds_core;
    stats.seconds_mst += c.seconds_mst;
    return tree;
  }
  spanning_tree tree;
  tree.n = n;
  // Core distances from distance tiles (this backend's, or a derived one's).
  tree.core_distances = exact_core_distances(
      n, bp.min_samples.value(),
      [&](std::span<const std::uint32_t> rows, std::span<const std::uint32_t> cols, std::span<float> out) {
        distance_tile(data, rows, cols, out);
      },
      &core_tick);
  core_tick(n, true);
  stats.distance_computations += std::uint64_t(n) * (n - 1);
  stats.seconds_graph += seconds_since(t0);
  const auto t1 = std::chrono::steady_clock::now();
  progress_ticker mst_tick([&](std::size_t done) {
    if (progress) progress("mst", done, n);
  });
  tree.edges = with_distance(
      data, [&](const auto& dist) { return exact_prim(n, tree.core_distances, dist, &mst_tick); });
  mst_tick(n, true);
  stats.distance_computations += std::uint64_t(n) * (n - 1) / 2;
  stats.candidate_edges += std::uint64_t(n) * (n - 1) / 2;
  stats.seconds_mst += seconds_since(t1);
  return tree;
}

void cpu_backend::distance_tile(const data_source& data, std::span<const std::uint32_t> rows,
                                std::span<const std::uint32_t> cols, std::span<float> out) const {
  expects(out.size() == rows.size() * cols.size(), error_code::internal,
          "distance_tile: out has " + std::to_string(out.size()) + " slots for " +
              std::to_string(rows.size()) + " x " + std::to_string(cols.size()) + " distances");
  with_distance(data, [&](const auto& dist) { tile_with(dist, rows, cols, out); });
}

std::vector<raw_edge> cpu_backend::minimum_spanning_forest(std::size_t n, std::span<const raw_edge> edges,
                                                           std::span<const raw_edge> more,
                                                           std::span<const float> core) const {
  return cpu_forest_solver()->minimum_spanning_forest(n, edges, more, core);
}

std::vector<raw_edge> cpu_backend::compact(std::size_t n, std::vector<raw_edge>&& edges,
                                           std::vector<raw_edge>&& more, std::span<const float> core) const {
  return cpu_forest_solver()->compact(n, std::move(edges), std::move(more), core);
}

std::shared_ptr<const backend> shared_cpu_backend() {
  static const std::shared_ptr<const backend> cpu = std::make_shared<cpu_backend>();
  return cpu;
}

}  // namespace chutoro::detail
