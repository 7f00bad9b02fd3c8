// chutoro — the CUDA module's kNN-candidates stage: GPU candidates for
// FISHDBC at scale (knn.cuh: exact kNN graph by tiles, its minimum spanning
// forest under mutual reachability, an exact join of its components) on
// Thrust's CUDA system behind the C ABI (cuda_module.h), with its failures
// turned into statuses. Device memory is planned before anything is
// allocated (knn_device_bytes plus an eighth for Thrust's temporaries): a
// problem that does not fit the free device memory or
// CHUTORO_CUDA_MEMORY_LIMIT is CHUTORO_CUDA_ERR_OUT_OF_MEMORY naming the
// bytes needed and free, never a crash.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>

#include "cuda/knn.cuh"
#include "cuda/module_internal.hpp"
#include "cuda/stage_status.cuh"

namespace chutoro::cuda_detail {

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

std::int32_t out_of_memory(std::int32_t device, std::uint64_t n, std::uint64_t dim, std::uint64_t needed,
                           char* error) {
  (void)cudaGetLastError();
  std::size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) free_bytes = total_bytes = 0;
  (void)cudaGetLastError();
  return fail(
      error, CHUTORO_CUDA_ERR_OUT_OF_MEMORY,
      "out of device memory: kNN candidates of %llu x %llu rows need about %.0f MiB of device memory; "
      "CUDA device %d has %.0f MiB free of %.0f MiB (use fewer rows, a smaller min_samples or "
      "device=cpu with candidates=hnsw)",
      static_cast<unsigned long long>(n), static_cast<unsigned long long>(dim),
      static_cast<double>(needed) / kMiB, static_cast<int>(device), static_cast<double>(free_bytes) / kMiB,
      static_cast<double>(total_bytes) / kMiB);
}

}  // namespace

std::int32_t knn_stage(std::int32_t device, const float* rows, std::uint64_t n, std::uint64_t dim,
                       std::uint64_t stride, std::int32_t metric, std::uint64_t min_samples,
                       std::uint64_t k_graph, float* core_out, chutoro_cuda_edge* tree_out,
                       std::uint64_t* knn_components, chutoro_cuda_progress_fn progress,
                       void* progress_context, char* error) {
  const char* limit_text = nullptr;
  long double limit = 0;
  if (const std::int32_t s = read_memory_limit(&limit, &limit_text, error); s != CHUTORO_CUDA_OK) return s;
  std::size_t free_bytes = 0, total_bytes = 0;
  const cudaError_t e = cudaMemGetInfo(&free_bytes, &total_bytes);
  if (e != cudaSuccess) return translate(e, "cudaMemGetInfo", error);
  std::size_t room = free_bytes;
  if (limit > 0 && limit < static_cast<long double>(room)) room = static_cast<std::size_t>(limit);
  knn_options opt;
  opt.k_graph = static_cast<std::size_t>(k_graph);
  // One row block's heaps: a quarter of the room, 16 MiB to 4 GiB.
  opt.heap_bytes = std::clamp<std::size_t>(room / 4, std::size_t{16} << 20, std::size_t{4} << 30);
  const std::size_t k =
      knn_neighbours(static_cast<std::size_t>(n), static_cast<std::size_t>(min_samples), opt.k_graph);
  const std::uint64_t base = knn_device_bytes(n, stride, k, opt.heap_bytes), needed = base + base / 8;
  if (needed > room) {
    if (limit > 0 && static_cast<long double>(needed) > limit) {
      return fail(error, CHUTORO_CUDA_ERR_OUT_OF_MEMORY,
                  "out of device memory: kNN candidates of %llu x %llu rows need about %.0f MiB of device "
                  "memory, more than CHUTORO_CUDA_MEMORY_LIMIT=%s allows",
                  static_cast<unsigned long long>(n), static_cast<unsigned long long>(dim),
                  static_cast<double>(needed) / kMiB, limit_text);
    }
    return out_of_memory(device, n, dim, needed, error);
  }
  if (progress != nullptr) {
    opt.progress = [&](const char* stage, std::size_t done, std::size_t total) {
      if (progress(progress_context, stage, done, total) != 0) throw cancelled{};
    };
  }
  exact_input in;
  in.rows = std::span<const float>(rows, static_cast<std::size_t>(n * stride));
  in.n = static_cast<std::size_t>(n);
  in.dim = static_cast<std::size_t>(dim);
  in.stride = static_cast<std::size_t>(stride);
  in.metric = static_cast<exact_metric>(metric);
  in.min_samples = static_cast<std::size_t>(min_samples);
  char host_what[128];
  std::snprintf(host_what, sizeof host_what, "kNN candidates of %llu x %llu rows",
                static_cast<unsigned long long>(n), static_cast<unsigned long long>(dim));
  return run_stage(
      "knn tree", host_what, error, [&] { return out_of_memory(device, n, dim, needed, error); },
      [&]() -> std::int32_t {
        const knn_tree t = knn_hdbscan(in, opt);
        if (t.core.size() != n || t.edges.size() != n - 1) {
          return fail(error, CHUTORO_CUDA_ERR_INTERNAL,
                      "knn tree: %zu core distances, %zu edges for %llu items", t.core.size(), t.edges.size(),
                      static_cast<unsigned long long>(n));
        }
        std::memcpy(core_out, t.core.data(), t.core.size() * sizeof(float));
        static_assert(sizeof(forest_edge) == sizeof(chutoro_cuda_edge));
        if (!t.edges.empty()) std::memcpy(tree_out, t.edges.data(), t.edges.size() * sizeof(forest_edge));
        if (knn_components != nullptr) *knn_components = t.knn_components;
        return CHUTORO_CUDA_OK;
      });
}

}  // namespace chutoro::cuda_detail
