// chutoro_cuda_bench — the CUDA module's spanning-forest stage against the
// CPU's (detail::minimum_spanning_forest: Filter-Kruskal on all OpenMP
// threads) on m random edges over n items under mutual reachability, in one
// run. The module is loaded as chutoro loads it (next to this executable, or
// CHUTORO_CUDA_LIBRARY), so the GPU time is what the library would see: host
// arrays in, host arrays out, upload and download included (a warm-up call
// makes the device context first). Not a test.
//
// The exact mode (first argument `exact`): the module's exact stage (GPU
// exact HDBSCAN*: core distances and the tree) against the CPU exact mode
// (cpu_backend::build_exact on all OpenMP threads), on Gaussian blobs:
//   chutoro_cuda_bench exact [--rows N] [--dim D] [--centers C] [--min-samples K]
//                            [--metric euclidean|cosine|manhattan|inner_product|angular]
//                            [--cpu-rows R] [--runs R] [--seed S]
// The GPU runs on all N rows; the CPU, whose exact mode is O(N^2) and takes
// minutes at these sizes, on the first R rows only (default min(N, 50000)), and
// so does a second GPU run for the agreement (same tree edges, total weight,
// labels at min_cluster_size 50) and the same-size speedup. The JSON also
// gives cpu_estimated_seconds = cpu_seconds * (N / R)^2, an extrapolation
// (labelled so), not a measurement. The R-row comparison runs first and is
// printed at once ("partial": true, gpu_median_seconds null), so a full-size
// run cut off by a time limit still leaves a result; the last line is final.
//
// The kNN-candidates mode (first argument `knn`): the module's knn_tree
// stage (GPU candidates for FISHDBC: exact kNN graph, its forest, exact joins)
// on all N rows, timed, and on the first R rows (--exact-rows, default
// min(N, 1,000,000); 0: none) its labels against the GPU exact stage's
// (ARI at min_cluster_size 50), same options as `exact` otherwise:
//   chutoro_cuda_bench knn [--rows N] [--dim D] [--centers C] [--min-samples K]
//                          [--metric M] [--exact-rows R] [--runs R] [--seed S]
// The ARI comparison is printed first ("partial": true), the full-size time last.
// planned_device_bytes: what the stage plans to allocate for the N rows
// (knn_plan.hpp's knn_planned_bytes, with the device's free memory when
// listed: a computed figure, to set beside a measured peak).
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
#include <chutoro/chutoro.hpp>
#include <chutoro/devices.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/backend/backend.hpp"
#include "core/backend/cuda_loader.hpp"
#include "core/mst/candidate_graph.hpp"
#include "cuda/knn_plan.hpp"

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

// ---- the exact mode ------------------------------------------------------------

struct exact_options {
  std::size_t rows = 100'000, dim = 128, centers = 20, min_samples = 10, cpu_rows = 0;
  std::size_t exact_rows = ~std::size_t{0};  // knn mode: rows compared with GPU exact (unset: min(N, 1M))
  std::string metric = "euclidean";
  int runs = 1;
  std::uint64_t seed = 1;
};

exact_options parse_exact(int argc, char** argv) {
  exact_options o;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + a).c_str());
    const std::string v = argv[++i];
    auto number = [&]() -> unsigned long long {
      char* end = nullptr;
      const unsigned long long x = std::strtoull(v.c_str(), &end, 10);
      if (*end != '\0' || v.empty() || v[0] == '-') usage(("bad value for " + a).c_str());
      return x;
    };
    if (a == "--rows")
      o.rows = number();
    else if (a == "--dim")
      o.dim = number();
    else if (a == "--centers")
      o.centers = number();
    else if (a == "--min-samples")
      o.min_samples = number();
    else if (a == "--cpu-rows")
      o.cpu_rows = number();
    else if (a == "--exact-rows")
      o.exact_rows = number();
    else if (a == "--runs")
      o.runs = static_cast<int>(number());
    else if (a == "--seed")
      o.seed = number();
    else if (a == "--metric")
      o.metric = v;
    else
      usage(("unknown option " + a).c_str());
  }
  if (o.rows < 2 || o.dim < 1 || o.centers < 1 || o.runs < 1)
    usage("exact: --rows >= 2, --dim, --centers, --runs >= 1");
  if (o.min_samples < 1 || o.min_samples > o.rows) usage("exact: --min-samples must be in [1, rows]");
  if (o.cpu_rows == 0) o.cpu_rows = std::min<std::size_t>(o.rows, 50'000);
  o.cpu_rows = std::clamp<std::size_t>(o.cpu_rows, o.min_samples, o.rows);
  if (o.exact_rows == ~std::size_t{0}) o.exact_rows = std::min<std::size_t>(o.rows, 1'000'000);
  if (o.exact_rows > 0) o.exact_rows = std::clamp<std::size_t>(o.exact_rows, o.min_samples, o.rows);
  return o;
}

/// Gaussian blobs: centres uniform in [-10, 10]^dim, spreads in [0.4, 1.5];
/// chunk c of 4096 rows from its own generator (independent of the threads).
std::vector<float> make_blobs(const exact_options& o) {
  std::vector<float> centre(o.centers * o.dim), spread(o.centers);
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<float> u(-10.0f, 10.0f), s(0.4f, 1.5f);
  for (float& c : centre) c = u(rng);
  for (float& x : spread) x = s(rng);
  std::vector<float> v(o.rows * o.dim);
  constexpr std::size_t chunk = 4096;
  const auto chunks = static_cast<std::int64_t>((o.rows + chunk - 1) / chunk);
#pragma omp parallel for schedule(static)
  for (std::int64_t c = 0; c < chunks; ++c) {
    std::mt19937_64 g(o.seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(c) + 1);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    const std::size_t end = std::min(o.rows, static_cast<std::size_t>(c + 1) * chunk);
    for (std::size_t i = static_cast<std::size_t>(c) * chunk; i < end; ++i) {
      const std::size_t b = g() % o.centers;
      for (std::size_t k = 0; k < o.dim; ++k) v[i * o.dim + k] = centre[b * o.dim + k] + spread[b] * gauss(g);
    }
  }
  return v;
}

std::shared_ptr<chutoro::data_source> make_source(const std::vector<float>& values, std::size_t n,
                                                  std::size_t dim, const std::string& metric) {
  const std::span<const float> v(values.data(), n * dim);
  if (metric == "inner_product" || metric == "angular")
    return std::make_shared<chutoro::product_source>(v, n, dim, chutoro::parse_product_metric(metric));
  return std::make_shared<chutoro::dense_source>(v, n, dim, chutoro::parse_dense_metric(metric));
}

std::int32_t metric_code(const std::string& m) {
  if (m == "cosine") return CHUTORO_CUDA_METRIC_COSINE;
  if (m == "manhattan") return CHUTORO_CUDA_METRIC_MANHATTAN;
  if (m == "inner_product") return CHUTORO_CUDA_METRIC_INNER_PRODUCT;
  if (m == "angular") return CHUTORO_CUDA_METRIC_ANGULAR;
  return CHUTORO_CUDA_METRIC_EUCLIDEAN;
}

int exact_main(int argc, char** argv, const chutoro::detail::cuda_module& module, int device,
               const chutoro::device_info& info) {
  const exact_options o = parse_exact(argc, argv);
  auto t0 = clock_type::now();
  const std::vector<float> values = make_blobs(o);
  const auto full = make_source(values, o.rows, o.dim, o.metric);
  const auto part = make_source(values, o.cpu_rows, o.dim, o.metric);
  const double generate_seconds = seconds_since(t0);
  const std::int32_t code = metric_code(o.metric);
  auto gpu_tree = [&](const chutoro::data_source& src) {
    const chutoro::matrix_view v = *src.matrix();
    return module.exact_tree(device,
                             std::span<const float>(static_cast<const float*>(v.data), v.rows * v.stride),
                             v.rows, v.cols, v.stride, code, o.min_samples, {});
  };
  std::vector<double> gpu_s, gpu_part_s, cpu_s;
  chutoro::spanning_tree gpu_part, cpu_part;
  std::size_t gpu_edges = 0;
  // First the CPU's rows on both (a result even if the full-size GPU run
  // later hits the check's time limit), then all rows on the GPU.
  try {
    (void)gpu_tree(*make_source(values, std::min<std::size_t>(o.rows, 1000), o.dim, o.metric));  // warm-up
    for (int r = 0; r < o.runs; ++r) {
      t0 = clock_type::now();
      gpu_part = gpu_tree(*part);
      gpu_part_s.push_back(seconds_since(t0));
      chutoro::build_params bp;
      bp.candidates = chutoro::candidate_mode::exact;
      bp.min_samples = o.min_samples;
      chutoro::fit_stats stats;
      const auto cpu = chutoro::detail::shared_cpu_backend();
      const auto scope = cpu->enter(0);
      t0 = clock_type::now();
      cpu_part = cpu->build_exact(*part, bp, stats, {});
      cpu_s.push_back(seconds_since(t0));
    }
  } catch (const chutoro::error& e) {
    std::fprintf(stderr, "chutoro_cuda_bench: %s\n", e.what());
    return 1;
  }
  // Agreement on the CPU's rows.
  std::map<std::pair<std::int64_t, std::int64_t>, double> want;
  double cpu_weight = 0, gpu_weight = 0, max_rel = 0;
  for (const auto& e : cpu_part.edges) want[{e.a, e.b}] = e.distance, cpu_weight += e.distance;
  std::size_t same_edges = 0;
  for (const auto& e : gpu_part.edges) {
    gpu_weight += e.distance;
    const auto it = want.find({e.a, e.b});
    if (it == want.end()) continue;
    ++same_edges;
    max_rel = std::max(max_rel, std::fabs(e.distance - it->second) / std::max(1e-30, std::fabs(it->second)));
  }
  double core_rel = 0;
  for (std::size_t i = 0; i < cpu_part.n; ++i)
    core_rel = std::max(core_rel, std::fabs(double(gpu_part.core_distances[i]) - cpu_part.core_distances[i]) /
                                      std::max(1e-30, double(cpu_part.core_distances[i])));
  chutoro::selection_params sp;
  sp.min_cluster_size = 50;
  const bool same_labels =
      chutoro::extract_clusters(gpu_part, sp).labels == chutoro::extract_clusters(cpu_part, sp).labels;
  const bool same_tree =
      same_edges == cpu_part.edges.size() && gpu_part.edges.size() == cpu_part.edges.size();
  const double gp = median(gpu_part_s), c = median(cpu_s);
  const double scale = double(o.rows) / double(o.cpu_rows);
  // One JSON line; before the full-size run "partial": true and gpu_median_seconds null.
  auto emit = [&](bool partial) {
    char gpu_median[32] = "null";
    if (!gpu_s.empty()) std::snprintf(gpu_median, sizeof gpu_median, "%.4f", median(gpu_s));
    std::printf(
        "{\"benchmark\": \"exact\", \"partial\": %s, \"rows\": %zu, \"dim\": %zu, \"centers\": %zu, "
        "\"metric\": \"%s\", \"min_samples\": %zu, \"seed\": %llu, \"runs\": %d, \"cpu_threads\": %d, "
        "\"device\": {\"index\": %d, \"name\": %s}, \"module_build\": %s, \"generate_seconds\": %.3f, "
        "\"gpu_seconds\": %s, \"gpu_median_seconds\": %s, \"gpu_tree_edges\": %zu, \"cpu_rows\": %zu, "
        "\"cpu_seconds\": %s, \"cpu_median_seconds\": %.4f, \"gpu_seconds_cpu_rows\": %s, "
        "\"gpu_median_seconds_cpu_rows\": %.4f, \"speedup_cpu_rows\": %.2f, \"cpu_estimated_seconds\": %.1f, "
        "\"cpu_estimate\": \"quadratic extrapolation from cpu_rows, not measured\", \"same_tree_edges\": %s, "
        "\"tree_weight_relative_difference\": %.3g, \"max_edge_relative_difference\": %.3g, "
        "\"max_core_relative_difference\": %.3g, \"same_labels\": %s}\n",
        partial ? "true" : "false", o.rows, o.dim, o.centers, o.metric.c_str(), o.min_samples,
        static_cast<unsigned long long>(o.seed), o.runs, omp_get_max_threads(), device,
        json_string(info.name).c_str(), json_string(module.build_info()).c_str(), generate_seconds,
        list(gpu_s).c_str(), gpu_median, gpu_edges, o.cpu_rows, list(cpu_s).c_str(), c,
        list(gpu_part_s).c_str(), gp, gp > 0 ? c / gp : 0.0, c * scale * scale, same_tree ? "true" : "false",
        std::fabs(gpu_weight - cpu_weight) / std::max(1e-30, cpu_weight), max_rel, core_rel,
        same_labels ? "true" : "false");
    std::fflush(stdout);
  };
  emit(true);
  try {
    for (int r = 0; r < o.runs; ++r) {
      t0 = clock_type::now();
      gpu_edges = gpu_tree(*full).edges.size();
      gpu_s.push_back(seconds_since(t0));
    }
  } catch (const chutoro::error& e) {
    std::fprintf(stderr, "chutoro_cuda_bench: %s\n", e.what());
    return 1;
  }
  emit(false);
  return same_labels && gpu_edges + 1 == o.rows ? 0 : 3;
}

/// The adjusted Rand index of two labelings (noise -1 a label like any other).
double adjusted_rand(const std::vector<std::int32_t>& a, const std::vector<std::int32_t>& b) {
  std::map<std::pair<std::int32_t, std::int32_t>, double> both;
  std::map<std::int32_t, double> ca, cb;
  for (std::size_t i = 0; i < a.size(); ++i) both[{a[i], b[i]}] += 1, ca[a[i]] += 1, cb[b[i]] += 1;
  auto pairs = [](double x) { return x * (x - 1) / 2; };
  double sum = 0, sa = 0, sb = 0;
  for (const auto& [k, v] : both) sum += pairs(v);
  for (const auto& [k, v] : ca) sa += pairs(v);
  for (const auto& [k, v] : cb) sb += pairs(v);
  const double expected = sa * sb / pairs(static_cast<double>(a.size())), top = (sa + sb) / 2;
  return top == expected ? 1.0 : (sum - expected) / (top - expected);
}

int knn_main(int argc, char** argv, const chutoro::detail::cuda_module& module, int device,
             const chutoro::device_info& info) {
  const exact_options o = parse_exact(argc, argv);
  auto t0 = clock_type::now();
  const std::vector<float> values = make_blobs(o);
  const auto full = make_source(values, o.rows, o.dim, o.metric);
  const double generate_seconds = seconds_since(t0);
  const std::int32_t code = metric_code(o.metric);
  std::size_t components = 0;
  auto rows_of = [](const chutoro::data_source& src) {
    const chutoro::matrix_view v = *src.matrix();
    return std::span<const float>(static_cast<const float*>(v.data), v.rows * v.stride);
  };
  auto knn = [&](const chutoro::data_source& src) {
    const chutoro::matrix_view v = *src.matrix();
    return module.knn_tree(device, rows_of(src), v.rows, v.cols, v.stride, code, o.min_samples, 0,
                           &components, {});
  };
  double ari = -1, knn_part_s = 0, exact_part_s = 0;
  std::size_t part_components = 0;
  std::vector<double> gpu_s;
  const std::uint64_t planned = chutoro::cuda_detail::knn_planned_bytes(
      full->matrix()->rows, full->matrix()->stride, o.min_samples, 0, info.free_memory_bytes);
  auto emit = [&](bool partial) {
    char gpu_median[32] = "null", ari_text[32] = "null";
    if (!gpu_s.empty()) std::snprintf(gpu_median, sizeof gpu_median, "%.4f", median(gpu_s));
    if (ari >= -0.5) std::snprintf(ari_text, sizeof ari_text, "%.5f", ari);
    std::printf(
        "{\"benchmark\": \"knn\", \"partial\": %s, \"rows\": %zu, \"dim\": %zu, \"centers\": %zu, "
        "\"metric\": \"%s\", \"min_samples\": %zu, \"seed\": %llu, \"runs\": %d, "
        "\"device\": {\"index\": %d, \"name\": %s}, \"module_build\": %s, \"generate_seconds\": %.3f, "
        "\"gpu_seconds\": %s, \"gpu_median_seconds\": %s, \"knn_components\": %zu, \"exact_rows\": %zu, "
        "\"knn_seconds_exact_rows\": %.4f, \"exact_seconds_exact_rows\": %.4f, "
        "\"knn_components_exact_rows\": %zu, \"ari_vs_gpu_exact\": %s, \"planned_device_bytes\": %llu, "
        "\"free_memory_bytes\": %llu}\n",
        partial ? "true" : "false", o.rows, o.dim, o.centers, o.metric.c_str(), o.min_samples,
        static_cast<unsigned long long>(o.seed), o.runs, device, json_string(info.name).c_str(),
        json_string(module.build_info()).c_str(), generate_seconds, list(gpu_s).c_str(), gpu_median,
        components, o.exact_rows, knn_part_s, exact_part_s, part_components, ari_text,
        static_cast<unsigned long long>(planned), static_cast<unsigned long long>(info.free_memory_bytes));
    std::fflush(stdout);
  };
  try {
    (void)knn(*make_source(values, std::min<std::size_t>(o.rows, 1000), o.dim, o.metric));  // warm-up
    if (o.exact_rows > 0) {
      const auto part = make_source(values, o.exact_rows, o.dim, o.metric);
      const chutoro::matrix_view v = *part->matrix();
      t0 = clock_type::now();
      const chutoro::spanning_tree approx = knn(*part);
      knn_part_s = seconds_since(t0);
      part_components = components;
      t0 = clock_type::now();
      const chutoro::spanning_tree exact =
          module.exact_tree(device, rows_of(*part), v.rows, v.cols, v.stride, code, o.min_samples, {});
      exact_part_s = seconds_since(t0);
      chutoro::selection_params sp;
      sp.min_cluster_size = 50;
      ari = adjusted_rand(chutoro::extract_clusters(approx, sp).labels,
                          chutoro::extract_clusters(exact, sp).labels);
      emit(true);
    }
    for (int r = 0; r < o.runs; ++r) {
      t0 = clock_type::now();
      (void)knn(*full);
      gpu_s.push_back(seconds_since(t0));
    }
  } catch (const chutoro::error& e) {
    std::fprintf(stderr, "chutoro_cuda_bench: %s\n", e.what());
    return 1;
  }
  emit(false);
  return ari < 0 || ari >= 0.99 ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  const bool exact = argc > 1 && std::string(argv[1]) == "exact";
  const bool knn = argc > 1 && std::string(argv[1]) == "knn";
  const options o = exact || knn ? options{} : parse(argc, argv);
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
  if (exact) return exact_main(argc, argv, *module, device, info);
  if (knn) return knn_main(argc, argv, *module, device, info);

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
