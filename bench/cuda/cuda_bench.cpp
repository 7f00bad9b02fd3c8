// chutoro_cuda_bench — the CUDA module's spanning-forest stage against the
// CPU's (detail::minimum_spanning_forest: Filter-Kruskal on all OpenMP
// threads) on m random edges over n items under mutual reachability, in one
// run. The module is loaded as chutoro loads it (next to this executable, or
// CHUTORO_CUDA_LIBRARY), so the GPU time is what the library would see: host
// arrays in, host arrays out, upload and download included (a warm-up call
// makes the device context first). Not a test.
//
// Usage: chutoro_cuda_bench [--edges M] [--items N] [--runs R] [--seed S] [--no-core]
// Defaults: 100,000,000 edges over 10,000,000 items (about 6 GB of host
// memory), 3 runs, seed 1. Edges: uniform random pairs of items (self-loops
// and repeats left in), distances uniform in [0, 1) on a grid of 2^20 values
// (ties occur); core distances uniform in [0, 0.5) on the same grid.
// Prints one JSON object on stdout: the device, every run's seconds, the
// medians, the speedup (CPU / GPU) and whether the forests agree (same pairs
// and weights in the same order; same_bytes: the raw distances too, which may
// differ only where one pair was drawn twice with different distances of the
// same weight). Exit status 1, with the reason on stderr, where no GPU can be used.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <chutoro/devices.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/backend/cuda_loader.hpp"
#include "core/mst/candidate_graph.hpp"

namespace {

using chutoro::detail::raw_edge;
using clock_type = std::chrono::steady_clock;

struct options {
  std::size_t edges = 100'000'000;
  std::size_t items = 10'000'000;
  int runs = 3;
  std::uint64_t seed = 1;
  bool core = true;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(
      stderr,
      "chutoro_cuda_bench: %s\nusage: chutoro_cuda_bench [--edges M] [--items N] [--runs R] [--seed S] "
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
      if (*end != '\0' || argv[i][0] == '-') usage(("bad value for " + a).c_str());
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
      usage(("unknown option " + a).c_str());
  }
  if (o.items < 2 || o.items > 0xFFFFFFFEull) usage("--items must be in [2, 2^32 - 2]");
  if (o.runs < 1) usage("--runs must be >= 1");
  return o;
}

/// Random graph in parallel: chunk c of 2^20 edges draws from its own
/// generator seeded (seed, c), so the graph does not depend on the threads.
void generate(const options& o, std::vector<raw_edge>& edges, std::vector<float>& core) {
  constexpr std::size_t chunk = std::size_t{1} << 20;
  constexpr float grid = 1.0f / (1 << 20);
  edges.resize(o.edges);
  const auto chunks = static_cast<std::int64_t>((o.edges + chunk - 1) / chunk);
#pragma omp parallel for schedule(static)
  for (std::int64_t c = 0; c < chunks; ++c) {
    std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(c));
    std::uniform_int_distribution<std::uint32_t> item(0, static_cast<std::uint32_t>(o.items - 1));
    std::uniform_int_distribution<std::uint32_t> level(0, (1u << 20) - 1);
    const std::size_t end = std::min(o.edges, static_cast<std::size_t>(c + 1) * chunk);
    for (std::size_t k = static_cast<std::size_t>(c) * chunk; k < end; ++k)
      edges[k] = {item(rng), item(rng), static_cast<float>(level(rng)) * grid};
  }
  if (!o.core) return;
  core.resize(o.items);
  std::mt19937_64 rng(o.seed ^ 0xC0DEull);
  std::uniform_int_distribution<std::uint32_t> level(0, (1u << 19) - 1);
  for (float& c : core) c = static_cast<float>(level(rng)) * grid;
}

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

std::string list(const std::vector<double>& v) {
  std::string s = "[";
  for (std::size_t k = 0; k < v.size(); ++k) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.4f", k == 0 ? "" : ", ", v[k]);
    s += buf;
  }
  return s + "]";
}

std::string json_string(const std::string& s) {
  std::string q = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) q += c;
  }
  return q + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  const chutoro::detail::cuda_module* module = nullptr;
  int device = -1;
  chutoro::device_info info;
  try {
    module = &chutoro::detail::require_cuda_module();
    device = module->pick_device();
    info = module->device(device);
  } catch (const chutoro::detail::cuda_error& e) {
    std::fprintf(stderr, "chutoro_cuda_bench: no CUDA device: %s\n", e.reason().c_str());
    return 1;
  }

  std::vector<raw_edge> edges;
  std::vector<float> core;
  auto t0 = clock_type::now();
  generate(o, edges, core);
  const double generate_seconds = seconds_since(t0);

  // Warm-up: the device context, the module's first allocations.
  {
    const std::vector<raw_edge> few(
        edges.begin(),
        edges.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(edges.size(), 1000)));
    (void)module->spanning_forest(device, o.items, few, {}, core);
  }
  std::vector<double> cpu_s, gpu_s;
  std::vector<raw_edge> cpu, gpu;
  try {
    for (int r = 0; r < o.runs; ++r) {
      t0 = clock_type::now();
      cpu = chutoro::detail::minimum_spanning_forest(o.items, edges, core);
      cpu_s.push_back(seconds_since(t0));
      t0 = clock_type::now();
      gpu = module->spanning_forest(device, o.items, edges, {}, core);
      gpu_s.push_back(seconds_since(t0));
    }
  } catch (const chutoro::error& e) {
    std::fprintf(stderr, "chutoro_cuda_bench: %s\n", e.what());
    return 1;
  }
  auto weight = [&](const raw_edge& e) { return core.empty() ? e.d : std::max({core[e.a], core[e.b], e.d}); };
  bool same_forest = cpu.size() == gpu.size(), same_bytes = same_forest;
  double total_weight = 0;
  for (std::size_t k = 0; k < cpu.size() && same_forest; ++k) {
    same_forest = cpu[k].a == gpu[k].a && cpu[k].b == gpu[k].b && weight(cpu[k]) == weight(gpu[k]);
    same_bytes = same_bytes && same_forest && cpu[k].d == gpu[k].d;
    total_weight += weight(cpu[k]);
  }
  const double cpu_median = median(cpu_s), gpu_median = median(gpu_s);
  std::printf(
      "{\"benchmark\": \"spanning_forest\", \"edges\": %zu, \"items\": %zu, \"core\": %s, \"seed\": %llu, "
      "\"runs\": %d, \"cpu_threads\": %d, \"device\": {\"index\": %d, \"name\": %s, \"compute_capability\": "
      "\"%d.%d\", "
      "\"multiprocessors\": %d, \"total_memory_bytes\": %llu, \"driver_version\": \"%s\", "
      "\"runtime_version\": "
      "\"%s\"}, \"module\": %s, \"module_build\": %s, \"generate_seconds\": %.3f, \"cpu_seconds\": %s, "
      "\"gpu_seconds\": %s, \"cpu_median_seconds\": %.4f, \"gpu_median_seconds\": %.4f, \"speedup\": %.2f, "
      "\"forest_edges\": %zu, \"forest_weight\": %.6g, \"same_forest\": %s, \"same_bytes\": %s}\n",
      o.edges, o.items, o.core ? "true" : "false", static_cast<unsigned long long>(o.seed), o.runs,
      omp_get_max_threads(), device, json_string(info.name).c_str(), info.compute_capability_major,
      info.compute_capability_minor, info.multiprocessors,
      static_cast<unsigned long long>(info.total_memory_bytes),
      chutoro::cuda_version_string(info.driver_version).c_str(),
      chutoro::cuda_version_string(info.runtime_version).c_str(),
      json_string(module->file().string()).c_str(), json_string(module->build_info()).c_str(),
      generate_seconds, list(cpu_s).c_str(), list(gpu_s).c_str(), cpu_median, gpu_median,
      gpu_median > 0 ? cpu_median / gpu_median : 0.0, cpu.size(), total_weight,
      same_forest ? "true" : "false", same_bytes ? "true" : "false");
  return same_forest ? 0 : 3;
}
