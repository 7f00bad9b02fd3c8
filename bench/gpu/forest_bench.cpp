// forest_bench — the spanning-forest benchmark of issue 11: the CPU's
// Filter-Kruskal (detail::minimum_spanning_forest, all OpenMP threads) against
// Borůvka on a Thrust device system (src/cuda/boruvka.cuh), on m random edges
// over n items under mutual reachability, in one run. Not a test.
//
// Built with the host compiler for Thrust's OpenMP device system: the
// algorithm at scale, and its agreement with the CPU, on any machine. The
// same source also compiles with nvcc (CUDA device system; the device name
// is then reported), but the GPU measurement of issue 11's target is
// chutoro_cuda_bench (bench/cuda), the same algorithm through the CUDA module
// as chutoro loads it.
//
// Usage: chutoro_forest_bench [--edges M] [--items N] [--runs R] [--seed S] [--no-core]
// Defaults: 100,000,000 edges over 10,000,000 items (the target size;
// needs ~6 GB of host memory), 3 runs, seed 1, random core distances.
// Edges: uniform random pairs of distinct items, distances uniform in [0, 1);
// core distances uniform in [0, 0.5). Both solvers get host arrays and return
// host arrays, so the GPU time includes upload and download (a warm-up call
// creates the device context first). Prints one JSON line on stdout: median
// seconds of each, the speedup, and whether the forests agree: same_forest
// (same pairs and weights in the same order), same_bytes (the raw distances
// too), distance_ties (edges whose distance differs: allowed only where the
// pair was drawn twice with different distances of equal weight, where the
// CPU's pick is unspecified) and agree (all of that holds; exit status 0).
#include <omp.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/mst/candidate_graph.hpp"
#include "cuda/boruvka.cuh"

#if defined(__CUDACC__)
#include <cuda_runtime.h>
#endif

namespace {

using chutoro::cuda_detail::forest_edge;
using chutoro::detail::raw_edge;

struct options {
  std::size_t edges = 100'000'000;
  std::size_t items = 10'000'000;
  int runs = 3;
  std::uint64_t seed = 1;
  bool core = true;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "forest_bench: %s\nusage: chutoro_forest_bench [--edges M] [--items N] [--runs R] [--seed S] "
               "[--no-core]\n",
               why);
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> unsigned long long {
      if (i + 1 >= argc) usage(("missing value after " + a).c_str());
      char* end = nullptr;
      const unsigned long long v = std::strtoull(argv[++i], &end, 10);
      if (end == argv[i] || *end != '\0') usage(("not a whole number after " + a + ": " + argv[i]).c_str());
      return v;
    };
    if (a == "--edges")
      o.edges = value();
    else if (a == "--items")
      o.items = value();
    else if (a == "--runs")
      o.runs = static_cast<int>(value());
    else if (a == "--seed")
      o.seed = value();
    else if (a == "--no-core")
      o.core = false;
    else
      usage(("unknown argument " + a).c_str());
  }
  if (o.items < 2 || o.items > 0xFFFFFFFFull) usage("--items must be in 2..2^32-1");
  if (o.runs < 1) usage("--runs must be at least 1");
  return o;
}

// Chunks of 2^20 edges, each from its own seeded generator: the same graph on any thread count.
std::vector<raw_edge> random_edges(const options& o) {
  std::vector<raw_edge> e(o.edges);
  constexpr std::size_t chunk = std::size_t{1} << 20;
  const auto chunks = static_cast<std::int64_t>((o.edges + chunk - 1) / chunk);
#pragma omp parallel for schedule(dynamic)
  for (std::int64_t c = 0; c < chunks; ++c) {
    std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(c));
    std::uniform_int_distribution<std::uint32_t> pick(0, static_cast<std::uint32_t>(o.items - 1));
    std::uniform_real_distribution<float> dist(0.0f, 1.0f);
    const std::size_t end = std::min(o.edges, static_cast<std::size_t>(c + 1) * chunk);
    for (std::size_t k = static_cast<std::size_t>(c) * chunk; k < end; ++k) {
      std::uint32_t a = pick(rng), b = pick(rng);
      while (b == a) b = pick(rng);
      e[k] = {a, b, dist(rng)};
    }
  }
  return e;
}

double seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

const char* device_system() {
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
  return "cuda";
#elif THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_OMP
  return "omp";
#elif THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_TBB
  return "tbb";
#else
  return "cpp";
#endif
}

std::string device_name() {
#if defined(__CUDACC__)
  int dev = 0;
  cudaDeviceProp p{};
  if (cudaGetDevice(&dev) == cudaSuccess && cudaGetDeviceProperties(&p, dev) == cudaSuccess) return p.name;
  return "unknown CUDA device";
#else
  return std::to_string(omp_get_max_threads()) + " OpenMP threads";
#endif
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  const auto t_gen = std::chrono::steady_clock::now();
  const std::vector<raw_edge> edges = random_edges(o);
  std::vector<float> core;
  if (o.core) {
    core.resize(o.items);
    std::mt19937_64 rng(o.seed + 17);
    std::uniform_real_distribution<float> c(0.0f, 0.5f);
    for (float& x : core) x = c(rng);
  }
  std::vector<forest_edge> gpu_edges(edges.size());
  std::memcpy(gpu_edges.data(), edges.data(), edges.size() * sizeof(raw_edge));
  std::fprintf(stderr, "forest_bench: %zu edges over %zu items generated in %.2f s\n", o.edges, o.items,
               seconds(t_gen));

  {  // warm-up: device context, allocator, thread pool
    const std::vector<forest_edge> few(gpu_edges.begin(),
                                       gpu_edges.begin() + std::min<std::ptrdiff_t>(1000, gpu_edges.size()));
    (void)chutoro::cuda_detail::boruvka_forest(o.items, few, {}, core);
  }
  std::vector<double> cpu_s, gpu_s;
  std::vector<raw_edge> cpu;
  std::vector<forest_edge> gpu;
  for (int r = 0; r < o.runs; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    cpu = chutoro::detail::minimum_spanning_forest(o.items, edges, core);
    cpu_s.push_back(seconds(t0));
    t0 = std::chrono::steady_clock::now();
    gpu = chutoro::cuda_detail::boruvka_forest(o.items, gpu_edges, {}, core);
    gpu_s.push_back(seconds(t0));
    std::fprintf(stderr, "forest_bench: run %d: cpu %.3f s, %s %.3f s\n", r + 1, cpu_s.back(),
                 device_system(), gpu_s.back());
  }
  auto weight = [&](std::uint32_t a, std::uint32_t b, float d) {
    return core.empty() ? std::max(0.0f, d) : std::max(std::max(core[a], core[b]), d);
  };
  bool same_forest = cpu.size() == gpu.size();
  for (std::size_t k = 0; same_forest && k < cpu.size(); ++k)
    same_forest = cpu[k].a == gpu[k].a && cpu[k].b == gpu[k].b &&
                  weight(cpu[k].a, cpu[k].b, cpu[k].d) == weight(gpu[k].a, gpu[k].b, gpu[k].d);
  const bool same_bytes =
      cpu.size() == gpu.size() && std::memcmp(cpu.data(), gpu.data(), cpu.size() * sizeof(raw_edge)) == 0;
  // Where the distances differ, the pair must have been drawn with both (equal weights).
  std::size_t distance_ties = 0;
  bool ties_explained = true;
  if (same_forest && !same_bytes) {
    std::map<std::pair<std::uint32_t, std::uint32_t>, std::vector<float>> drawn;
    for (std::size_t k = 0; k < cpu.size(); ++k)
      if (std::bit_cast<std::uint32_t>(cpu[k].d) != std::bit_cast<std::uint32_t>(gpu[k].d))
        drawn[{cpu[k].a, cpu[k].b}], ++distance_ties;
    for (const raw_edge& e : edges)
      if (auto it = drawn.find({std::min(e.a, e.b), std::max(e.a, e.b)}); it != drawn.end())
        it->second.push_back(e.d);
    for (std::size_t k = 0; k < cpu.size(); ++k) {
      const auto it = drawn.find({cpu[k].a, cpu[k].b});
      if (it == drawn.end()) continue;
      const auto& ds = it->second;
      ties_explained = ties_explained && std::find(ds.begin(), ds.end(), cpu[k].d) != ds.end() &&
                       std::find(ds.begin(), ds.end(), gpu[k].d) != ds.end();
    }
  }
  const bool agree = same_forest && ties_explained;
  const double c = median(cpu_s), g = median(gpu_s);
  std::printf(
      "{\"bench\": \"spanning_forest\", \"system\": \"%s\", \"device\": \"%s\", \"edges\": %zu, "
      "\"items\": %zu, \"core\": %s, \"cpu_threads\": %d, \"runs\": %d, \"cpu_seconds\": %.6f, "
      "\"gpu_seconds\": %.6f, \"speedup\": %.3f, \"forest_edges\": %zu, \"same_forest\": %s, "
      "\"same_bytes\": %s, \"distance_ties\": %zu, \"agree\": %s}\n",
      device_system(), device_name().c_str(), o.edges, o.items, o.core ? "true" : "false",
      omp_get_max_threads(), o.runs, c, g, c / g, cpu.size(), same_forest ? "true" : "false",
      same_bytes ? "true" : "false", distance_ties, agree ? "true" : "false");
  return agree ? 0 : 1;
}
