// chutoro — the C-ABI side that the CUDA module's two tree stages (exact.cu:
// exact HDBSCAN*; knn.cu: kNN candidates) share: device memory planned before
// anything is allocated (a problem that does not fit the free device memory or
// CHUTORO_CUDA_MEMORY_LIMIT is CHUTORO_CUDA_ERR_OUT_OF_MEMORY naming the bytes
// needed and free, never a crash), the progress callback, the input view, the
// exceptions turned into statuses (run_stage) and the tree copied out after a
// size check (internal to libchutoro_cuda.so; nvcc only).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>

#include "cuda/exact.cuh"
#include "cuda/knn_plan.hpp"  // tree_stage_heap_bytes
#include "cuda/module_internal.hpp"
#include "cuda/stage_status.cuh"

namespace chutoro::cuda_detail {

/// How a tree stage names itself in its messages.
struct tree_stage_text {
  const char* stage;  ///< "exact tree": the status messages' prefix
  const char* what;   ///< "exact HDBSCAN*": "<what> of N x D rows need(s) ..."
  const char* needs;  ///< "needs" or "need", agreeing with `what`
  const char* hint;   ///< what the user may do when the device is too small
};

namespace tree_stage_impl {
inline std::int32_t out_of_memory(const tree_stage_text& text, std::int32_t device, std::uint64_t n,
                                  std::uint64_t dim, std::uint64_t needed, char* error) {
  const device_memory_mib mem = device_memory_for_message();
  return fail(
      error, CHUTORO_CUDA_ERR_OUT_OF_MEMORY,
      "out of device memory: %s of %llu x %llu rows %s about %.0f MiB of device memory; CUDA device %d "
      "has %.0f MiB free of %.0f MiB (%s)",
      text.what, static_cast<unsigned long long>(n), static_cast<unsigned long long>(dim), text.needs,
      static_cast<double>(needed) / kMiB, static_cast<int>(device), mem.free, mem.total, text.hint);
}
}  // namespace tree_stage_impl

/// One tree stage behind the C ABI. `opt` (exact_options or knn_options) gets
/// its heap budget (a quarter of the usable device memory, 16 MiB to 4 GiB)
/// and the progress callback; plan_bytes(opt) gives the device bytes the stage
/// plans for (its algorithm's own count plus an eighth for Thrust's
/// temporaries is added here); solve(input, opt) returns the tree (core: n
/// floats, edges: n - 1), copied to core_out / tree_out; finish(tree) then
/// writes what else the stage returns. Returns a CHUTORO_CUDA_* status.
template <class Options, class PlanBytes, class Solve, class Finish>
std::int32_t run_tree_stage(const tree_stage_text& text, std::int32_t device, const float* rows,
                            std::uint64_t n, std::uint64_t dim, std::uint64_t stride, std::int32_t metric,
                            std::uint64_t min_samples, Options& opt, PlanBytes&& plan_bytes, Solve&& solve,
                            Finish&& finish, float* core_out, chutoro_cuda_edge* tree_out,
                            chutoro_cuda_progress_fn progress, void* progress_context, char* error) {
  const char* limit_text = nullptr;
  long double limit = 0;
  if (const std::int32_t s = read_memory_limit(&limit, &limit_text, error); s != CHUTORO_CUDA_OK) return s;
  std::size_t free_bytes = 0, total_bytes = 0;
  const cudaError_t e = cudaMemGetInfo(&free_bytes, &total_bytes);
  if (e != cudaSuccess) return translate(e, "cudaMemGetInfo", error);
  std::size_t room = free_bytes;
  if (limit > 0 && limit < static_cast<long double>(room)) room = static_cast<std::size_t>(limit);
  opt.heap_bytes = static_cast<std::size_t>(tree_stage_heap_bytes(room));
  const std::uint64_t base = plan_bytes(opt), needed = base + base / 8;
  auto out_of_memory = [&] { return tree_stage_impl::out_of_memory(text, device, n, dim, needed, error); };
  if (needed > room) {
    if (limit > 0 && static_cast<long double>(needed) > limit) {
      return fail(
          error, CHUTORO_CUDA_ERR_OUT_OF_MEMORY,
          "out of device memory: %s of %llu x %llu rows %s about %.0f MiB of device memory, more than "
          "CHUTORO_CUDA_MEMORY_LIMIT=%s allows",
          text.what, static_cast<unsigned long long>(n), static_cast<unsigned long long>(dim), text.needs,
          static_cast<double>(needed) / kMiB, limit_text);
    }
    return out_of_memory();
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
  std::snprintf(host_what, sizeof host_what, "%s of %llu x %llu rows", text.what,
                static_cast<unsigned long long>(n), static_cast<unsigned long long>(dim));
  return run_stage(text.stage, host_what, error, out_of_memory, [&]() -> std::int32_t {
    const auto t = solve(in, opt);
    if (t.core.size() != n || t.edges.size() != n - 1) {
      return fail(error, CHUTORO_CUDA_ERR_INTERNAL, "%s: %zu core distances, %zu edges for %llu items",
                  text.stage, t.core.size(), t.edges.size(), static_cast<unsigned long long>(n));
    }
    std::memcpy(core_out, t.core.data(), t.core.size() * sizeof(float));
    static_assert(sizeof(forest_edge) == sizeof(chutoro_cuda_edge));
    if (!t.edges.empty()) std::memcpy(tree_out, t.edges.data(), t.edges.size() * sizeof(forest_edge));
    finish(t);
    return CHUTORO_CUDA_OK;
  });
}

}  // namespace chutoro::cuda_detail
