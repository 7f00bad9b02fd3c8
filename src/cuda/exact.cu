// chutoro — the CUDA module's exact stage: exact HDBSCAN* (core distances and
// the minimum spanning tree of the complete mutual-reachability graph) on
// Thrust's CUDA system (exact.cuh) behind the C ABI (cuda_module.h), with its
// failures turned into statuses. Device memory is planned before anything is
// allocated: a problem that does not fit the free device memory (or
// CHUTORO_CUDA_MEMORY_LIMIT) is CHUTORO_CUDA_ERR_OUT_OF_MEMORY naming the
// bytes needed and free, never a crash; an allocation that still fails
// (another process took the memory) gives the same status.
#include <cstdint>

#include "cuda/exact.cuh"
#include "cuda/tree_stage.cuh"

namespace chutoro::cuda_detail {

static_assert(static_cast<int>(exact_metric::euclidean) == CHUTORO_CUDA_METRIC_EUCLIDEAN &&
              static_cast<int>(exact_metric::cosine) == CHUTORO_CUDA_METRIC_COSINE &&
              static_cast<int>(exact_metric::manhattan) == CHUTORO_CUDA_METRIC_MANHATTAN &&
              static_cast<int>(exact_metric::inner_product) == CHUTORO_CUDA_METRIC_INNER_PRODUCT &&
              static_cast<int>(exact_metric::angular) == CHUTORO_CUDA_METRIC_ANGULAR);

std::int32_t exact_stage(std::int32_t device, const float* rows, std::uint64_t n, std::uint64_t dim,
                         std::uint64_t stride, std::int32_t metric, std::uint64_t min_samples,
                         float* core_out, chutoro_cuda_edge* tree_out, chutoro_cuda_progress_fn progress,
                         void* progress_context, char* error) {
  static constexpr tree_stage_text text{"exact tree", "exact HDBSCAN*", "needs",
                                        "use device=cpu, or fewer rows"};
  exact_options opt;
  return run_tree_stage(
      text, device, rows, n, dim, stride, metric, min_samples, opt,
      [&](const exact_options& o) { return exact_device_bytes(n, stride, min_samples, o.heap_bytes); },
      [](const exact_input& in, const exact_options& o) { return exact_hdbscan(in, o); },
      [](const exact_tree&) {}, core_out, tree_out, progress, progress_context, error);
}

}  // namespace chutoro::cuda_detail
