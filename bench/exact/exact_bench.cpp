// chutoro_exact_bench — the graph stage of the exact mode by kd-tree
// (exact_tree.hpp), by all pairs (exact_core_distances + exact_prim) and the
// hnsw mode (FISHDBC), side by side in one run on the same blobs (the tests'
// generator), printing seconds and ratios to the kd-tree. It measures the
// rules exact_tree_preferred and candidates = auto (docs/algorithm.md).
//
// Usage: chutoro_exact_bench N D [min_samples=10] [euclidean|manhattan]
//        [modes=tree,pairs,hnsw] [threads=1]
#include <omp.h>

#include <chrono>
#include <chutoro/chutoro.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/backend/backend.hpp"
#include "core/distance_dispatch.hpp"
#include "core/mst/exact.hpp"
#include "core/mst/exact_tree.hpp"
#include "test_data.hpp"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double weight(const chutoro::spanning_tree& t) {
  double s = 0;
  for (const auto& e : t.edges) s += e.distance;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s N D [min_samples] [euclidean|manhattan] [modes] [threads]\n", argv[0]);
    return 2;
  }
  const std::size_t n = std::strtoull(argv[1], nullptr, 10), d = std::strtoull(argv[2], nullptr, 10);
  const std::size_t ms = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 10;
  const auto metric = chutoro::parse_dense_metric(argc > 4 ? argv[4] : "euclidean");
  const std::string modes = argc > 5 ? argv[5] : "tree,pairs,hnsw";
  const int threads = argc > 6 ? std::atoi(argv[6]) : 1;
  omp_set_num_threads(threads);
  const auto data = chutoro_test::make_blobs(n, d, 10, 0.05, 12345 + n + d);
  const chutoro::dense_source src(data.values, n, d, metric);
  double t_tree = 0, t_pairs = 0, t_hnsw = 0, w_tree = 0, w_pairs = 0, w_hnsw = 0;
  if (modes.find("tree") != std::string::npos) {
    chutoro::detail::exact_tree_counters c;
    const auto t0 = std::chrono::steady_clock::now();
    const auto t = chutoro::detail::exact_tree_spanning_tree(src, ms, c);
    t_tree = seconds_since(t0);
    w_tree = weight(t);
  }
  if (modes.find("pairs") != std::string::npos) {
    chutoro::detail::cpu_backend cpu;
    const auto t0 = std::chrono::steady_clock::now();
    chutoro::spanning_tree t;
    t.core_distances = chutoro::detail::exact_core_distances(
        n, ms, [&](std::span<const std::uint32_t> r, std::span<const std::uint32_t> cl, std::span<float> o) {
          cpu.distance_tile(src, r, cl, o);
        });
    t.edges = chutoro::detail::with_distance(
        src, [&](const auto& dist) { return chutoro::detail::exact_prim(n, t.core_distances, dist); });
    t_pairs = seconds_since(t0);
    w_pairs = weight(t);
  }
  if (modes.find("hnsw") != std::string::npos) {
    chutoro::build_params bp;
    bp.candidates = chutoro::candidate_mode::hnsw;
    bp.threads = threads;
    const auto t0 = std::chrono::steady_clock::now();
    const auto t = chutoro::build_spanning_tree(src, bp, ms);
    t_hnsw = seconds_since(t0);
    w_hnsw = weight(t);
  }
  std::printf("n=%zu d=%zu min_samples=%zu %s threads=%d | tree %.3f s | pairs %.3f s | hnsw %.3f s", n, d,
              ms, std::string(chutoro::to_string(metric)).c_str(), threads, t_tree, t_pairs, t_hnsw);
  if (t_tree > 0 && t_pairs > 0) std::printf(" | pairs/tree %.2f", t_pairs / t_tree);
  if (t_tree > 0 && t_hnsw > 0) std::printf(" | hnsw/tree %.2f", t_hnsw / t_tree);
  if (t_pairs > 0 && t_hnsw > 0) std::printf(" | hnsw/pairs %.2f", t_hnsw / t_pairs);
  if (w_tree > 0 && w_pairs > 0) std::printf(" | weight tree/pairs %.9f", w_tree / w_pairs);
  if (w_tree > 0 && w_hnsw > 0) std::printf(" | weight hnsw/tree %.6f", w_hnsw / w_tree);
  std::printf("\n");
  return 0;
}
