// chutoro_recall X.npy [queries] [k] [threads]: builds chutoro's HNSW graph
// over the rows of X (float32, euclidean) as a fit does (the build_params
// defaults: m 16, ef_construction 100, seed 42; insertion batches as in
// src/core/fit.cpp, without the candidate graph), then searches the k nearest
// neighbours of `queries` evenly spaced items (themselves excluded) with
// ef = ef_construction and prints one JSON object: the mean recall@k against
// brute force over the same distances, and the build's seconds.
// Used by bench/compare/targets.py, which measures hnswlib's recall on the
// same items (an index query with ef = ef_construction, the item itself removed).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <chutoro/chutoro.hpp>
#include <chutoro/io.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <span>
#include <vector>

#include "core/hnsw/hnsw.hpp"

namespace {

struct source_distance {
  const chutoro::data_source* src;
  float operator()(std::uint32_t a, std::uint32_t b) const { return src->distance(a, b); }
};

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::fprintf(stderr, "usage: chutoro_recall X.npy [queries=1000] [k=10] [threads=2]\n");
    return 2;
  }
  const std::size_t queries = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1000;
  const std::size_t k = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 10;
  const int threads = argc > 4 ? std::atoi(argv[4]) : 2;
  const chutoro::dense_table t = chutoro::read_npy(argv[1]);
  const chutoro::dense_source src(t.values, t.n, t.dim, chutoro::dense_metric::euclidean);
  const chutoro::build_params bp;
  using index = chutoro::detail::hnsw_index<source_distance>;
  chutoro::detail::hnsw_graph graph(bp.m, bp.ef_construction, bp.seed);
  graph.grow(t.n);
  index idx(graph, source_distance{&src});
  std::vector<index::worker> workers;
  for (int i = 0; i < threads; ++i) workers.emplace_back(t.n);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::uint32_t> ids(t.n);
  for (std::uint32_t i = 0; i < ids.size(); ++i) ids[i] = i;
  for (std::size_t done = 0; done < ids.size();) {
    const std::size_t batch = chutoro::detail::next_batch(done, bp.batch_size, t.n - done);
    idx.insert_batch(std::span(ids).subspan(done, batch), workers);
    done += batch;
    for (auto& w : workers) w.edges.clear(), w.offers.clear();
  }
  const double build = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::size_t step = std::max<std::size_t>(t.n / queries, 1);
  std::size_t hits = 0, asked = 0;
  for (std::size_t q = 0; q < t.n && asked < queries; q += step, ++asked) {
    std::vector<std::pair<float, std::uint32_t>> all;
    all.reserve(t.n);
    for (std::uint32_t j = 0; j < t.n; ++j)
      if (j != q) all.push_back({src.distance(static_cast<std::uint32_t>(q), j), j});
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end());
    const auto got = idx.search(static_cast<std::uint32_t>(q), k, bp.ef_construction, workers[0]);
    for (std::size_t i = 0; i < k; ++i)
      for (const auto& s : got) hits += s.id == all[i].second;
  }
  std::printf("{\"recall_at_k\": %.4f, \"k\": %zu, \"queries\": %zu, \"build_seconds\": %.3f}\n",
              static_cast<double>(hits) / static_cast<double>(k * asked), k, asked, build);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "chutoro_recall: %s\n", e.what());
  return 1;
}
