// chutoro — the CUDA module's exact stage: exact HDBSCAN* (core distances and
// the minimum spanning tree of the complete mutual-reachability graph) on
// Thrust's CUDA system (exact.cuh) behind the C ABI (cuda_module.h), with its
// failures turned into statuses. Device memory is planned before anything is
// allocated: a problem that does not fit the free device memory (or
// CHUTORO_CUDA_MEMORY_LIMIT) is CHUTORO_CUDA_ERR_OUT_OF_MEMORY naming the
// bytes needed and free, never a crash; an allocation that still fails
// (another process took the memory) gives the same status.
#include <thrust/system/cuda/error.h>
#include <thrust/system/detail/bad_alloc.h>
#include <thrust/system_error.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>

#include "cuda/exact.cuh"
#include "cuda/module_internal.hpp"
#include "cuda/stage_status.cuh"

namespace chutoro::cuda_detail {

static_assert(static_cast<int>(exact_metric::euclidean) == CHUTORO_CUDA_METRIC_EUCLIDEAN &&
              static_cast<int>(exact_metric::cosine) == CHUTORO_CUDA_METRIC_COSINE &&
              static_cast<int>(exact_metric::manhattan) == CHUTORO_CUDA_METRIC_MANHATTAN &&
              static_cast<int>(exact_metric::inner_product) == CHUTORO_CUDA_METRIC_INNER_PRODUCT &&
              static_cast<int>(exact_metric::angular) == CHUTORO_CUDA_METRIC_ANGULAR);

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

/// The heap budget of one row block: a quarter of the free memory, 16 MiB to 4 GiB.
std::size_t heap_budget(std::size_t free_bytes) {
  return std::clamp<std::size_t>(free_bytes / 4, std::size_t{16} << 20, std::size_t{4} << 30);
}

/// Bytes the stage plans for: exact_device_bytes plus an eighth for Thrust's temporaries.
std::uint64_t bytes_needed(std::uint64_t n, std::uint64_t stride, std::uint64_t min_samples,
                           std::uint64_t heap_bytes) {
  const std::uint64_t base = exact_device_bytes(n, stride, min_samples, heap_bytes);
  return base + base / 8;
}

std::int32_t out_of_memory(std::int32_t device, std::uint64_t n, std::uint64_t dim, std::uint64_t needed,
                           char* error) {
  (void)cudaGetLastError();
  std::size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) free_bytes = total_bytes = 0;
  (void)cudaGetLastError();
  return fail(
      error, CHUTORO_CUDA_ERR_OUT_OF_MEMORY,
      "out of device memory: exact HDBSCAN* of %llu x %llu rows needs about %.0f MiB of device memory; "
      "CUDA device %d has %.0f MiB free of %.0f MiB (use device=cpu, or fewer rows)",
      static_cast<unsigned long long>(n), static_cast<unsigned long long>(dim),
      static_cast<double>(needed) / kMiB, static_cast<int>(device), static_cast<double>(free_bytes) / kMiB,
      static_cast<double>(total_bytes) / kMiB);
}

}  // namespace

std::int32_t exact_stage(std::int32_t device, const float* rows, std::uint64_t n, std::uint64_t dim,
                         std::uint64_t stride, std::int32_t metric, std::uint64_t min_samples,
                         float* core_out, chutoro_cuda_edge* tree_out, chutoro_cuda_progress_fn progress,
                         void* progress_context, char* error) {
  const char* limit_text = nullptr;
  long double limit = 0;
  if (const std::int32_t s = read_memory_limit(&limit, &limit_text, error); s != CHUTORO_CUDA_OK) return s;
  std::size_t free_bytes = 0, total_bytes = 0;
  const cudaError_t e = cudaMemGetInfo(&free_bytes, &total_bytes);
  if (e != cudaSuccess) return translate(e, "cudaMemGetInfo", error);
  std::size_t room = free_bytes;
  if (limit > 0 && limit < static_cast<long double>(room)) room = static_cast<std::size_t>(limit);
  exact_options opt;
  opt.heap_bytes = heap_budget(room);
  const std::uint64_t needed = bytes_needed(n, stride, min_samples, opt.heap_bytes);
  if (needed > room) {
    if (limit > 0 && static_cast<long double>(needed) > limit) {
      return fail(error, CHUTORO_CUDA_ERR_OUT_OF_MEMORY,
                  "out of device memory: exact HDBSCAN* of %llu x %llu rows needs about %.0f MiB of device "
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
  std::snprintf(host_what, sizeof host_what, "exact HDBSCAN* of %llu x %llu rows",
                static_cast<unsigned long long>(n), static_cast<unsigned long long>(dim));
  return run_stage(
      "exact tree", host_what, error, [&] { return out_of_memory(device, n, dim, needed, error); },
      [&]() -> std::int32_t {
        const exact_tree t = exact_hdbscan(in, opt);
        if (t.core.size() != n || t.edges.size() != n - 1) {
          return fail(error, CHUTORO_CUDA_ERR_INTERNAL,
                      "exact tree: %zu core distances, %zu edges for %llu items", t.core.size(),
                      t.edges.size(), static_cast<unsigned long long>(n));
        }
        std::memcpy(core_out, t.core.data(), t.core.size() * sizeof(float));
        static_assert(sizeof(forest_edge) == sizeof(chutoro_cuda_edge));
        if (!t.edges.empty()) std::memcpy(tree_out, t.edges.data(), t.edges.size() * sizeof(forest_edge));
        return CHUTORO_CUDA_OK;
      });
}

}  // namespace chutoro::cuda_detail
