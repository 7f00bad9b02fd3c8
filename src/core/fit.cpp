#include <omp.h>

#include <chrono>
#include <chutoro/error.hpp>
#include <chutoro/fit.hpp>
#include <numeric>
#include <random>
#include <string>

#include "core/build.hpp"
#include "core/distance_dispatch.hpp"
#include "core/hierarchy/hierarchy.hpp"
#include "core/hnsw/hnsw.hpp"
#include "core/mst/candidate_graph.hpp"
#include "core/mst/exact.hpp"

namespace chutoro {

namespace detail {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <class Distance>
spanning_tree extend_with(hnsw_state& s, std::size_t n, const build_params& bp, const Distance& dist,
                          fit_stats& stats, const progress_fn& progress) {
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
  for (std::size_t done = 0; done < order.size();) {
    const std::size_t inserted = first + done;
    const std::size_t batch = next_batch(inserted, bp.batch_size, order.size() - done);
    hnsw.insert_batch(std::span(order).subspan(done, batch), workers);
    done += batch;
    s.candidates.set_items_seen(first + done);
    absorb();
    tick(done, done == order.size());
  }
  // An item that met fewer than min_samples - 1 others during the build (rare:
  // tiny or very unbalanced inputs) gets its neighbours from a graph search.
  const std::size_t k = s.candidates.k();
  for (std::size_t i = 0; i < n; ++i)
    if (s.candidates.known_neighbours(i) < k)
      hnsw.search(static_cast<std::uint32_t>(i), k, std::max(bp.ef_construction, k), workers[0]);
  absorb();
  for (const auto& w : workers) stats.distance_computations += w.computed;
  stats.seconds_graph += seconds_since(t0);
  const auto t1 = std::chrono::steady_clock::now();
  spanning_tree tree = s.candidates.finish();
  stats.candidate_edges += s.candidates.harvested() - harvested_before;
  stats.peak_buffered_edges = std::max(stats.peak_buffered_edges, s.candidates.peak_buffered());
  stats.compactions += s.candidates.compactions() - compactions_before;
  stats.seconds_mst += seconds_since(t1);
  return tree;
}

template <class Distance>
spanning_tree exact_with(std::size_t n, std::size_t min_samples, const Distance& dist, fit_stats& stats,
                         const progress_fn& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  spanning_tree tree;
  tree.n = n;
  progress_ticker core_tick([&](std::size_t done) {
    if (progress) progress("core distances", done, n);
  });
  tree.core_distances = exact_core_distances(n, min_samples, dist, &core_tick);
  core_tick(n, true);
  stats.distance_computations += std::uint64_t(n) * (n - 1);
  stats.seconds_graph += seconds_since(t0);
  const auto t1 = std::chrono::steady_clock::now();
  progress_ticker mst_tick([&](std::size_t done) {
    if (progress) progress("mst", done, n);
  });
  tree.edges = exact_prim(n, tree.core_distances, dist, &mst_tick);
  mst_tick(n, true);
  stats.distance_computations += std::uint64_t(n) * (n - 1) / 2;
  stats.candidate_edges += std::uint64_t(n) * (n - 1) / 2;
  stats.seconds_mst += seconds_since(t1);
  return tree;
}

}  // namespace

omp_threads_scope::omp_threads_scope(int threads) : saved_(omp_get_max_threads()) {
  if (threads > 0) omp_set_num_threads(threads);
}
omp_threads_scope::~omp_threads_scope() { omp_set_num_threads(saved_); }

spanning_tree extend_hnsw(hnsw_state& s, const data_source& data, const build_params& bp, fit_stats& stats,
                          const progress_fn& progress) {
  return with_distance(
      data, [&](const auto& dist) { return extend_with(s, data.size(), bp, dist, stats, progress); });
}

spanning_tree build_exact(const data_source& data, std::size_t min_samples, fit_stats& stats,
                          const progress_fn& progress) {
  return with_distance(
      data, [&](const auto& dist) { return exact_with(data.size(), min_samples, dist, stats, progress); });
}

void check_build_size(const data_source& data, std::size_t min_samples) {
  const std::size_t n = data.size();
  expects(
      n >= 2, error_code::invalid_argument,
      "data source '" + data.name() + "' has " + std::to_string(n) + " items; clustering needs at least 2");
  expects(n <= std::size_t{0xFFFFFFFE}, error_code::invalid_argument,
          "data source '" + data.name() + "' has more than 2^32 - 2 items");
  expects(min_samples <= n, error_code::invalid_argument,
          "min_samples (" + std::to_string(min_samples) + ") exceeds the number of items (" +
              std::to_string(n) + ")");
}

}  // namespace detail

spanning_tree build_spanning_tree(const data_source& data, const build_params& bp, std::size_t min_samples,
                                  fit_stats* stats, const progress_fn& progress) {
  params p;
  p.build = bp;
  p.build.min_samples = min_samples;
  validate(p);
  detail::check_build_size(data, min_samples);
  fit_stats local;
  fit_stats& st = stats ? *stats : local;
  detail::omp_threads_scope threads(bp.threads);
  if (bp.candidates == candidate_mode::exact) return detail::build_exact(data, min_samples, st, progress);
  detail::hnsw_state s(bp, min_samples);
  return detail::extend_hnsw(s, data, bp, st, progress);
}

clustering extract_clusters(const spanning_tree& tree, const selection_params& sp) {
  params p;
  p.selection = sp;
  validate(p);
  expects(tree.edges.size() + 1 == tree.n, error_code::invalid_argument,
          "spanning tree has " + std::to_string(tree.edges.size()) + " edges for " + std::to_string(tree.n) +
              " items (expected n - 1)");
  return detail::extract(tree.n, tree.edges, sp);
}

result fit(const data_source& data, const params& p, const progress_fn& progress) {
  validate(p);
  const std::size_t n = data.size();
  expects(n >= p.selection.min_cluster_size, error_code::invalid_argument,
          "data source '" + data.name() + "' has " + std::to_string(n) +
              " items, fewer than min_cluster_size (" + std::to_string(p.selection.min_cluster_size) + ")");
  result r;
  r.tree = build_spanning_tree(data, p.build, p.min_samples(), &r.stats, progress);
  const auto t0 = std::chrono::steady_clock::now();
  static_cast<clustering&>(r) = extract_clusters(r.tree, p.selection);
  r.stats.seconds_hierarchy = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace chutoro
