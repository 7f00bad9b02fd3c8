// chutoro — the CUDA module's kNN-candidates stage: GPU candidates for
// FISHDBC at scale (knn.cuh: exact kNN graph by tiles, its minimum spanning
// forest under mutual reachability by Borůvka rounds over the lists, an exact
// join of its components) on
// Thrust's CUDA system behind the C ABI (cuda_module.h), with its failures
// turned into statuses. Device memory is planned before anything is
// allocated (knn_device_bytes plus an eighth for Thrust's temporaries): a
// problem that does not fit the free device memory or
// CHUTORO_CUDA_MEMORY_LIMIT is CHUTORO_CUDA_ERR_OUT_OF_MEMORY naming the
// bytes needed and free, never a crash.
#include <cstdint>

#include "cuda/knn.cuh"
#include "cuda/tree_stage.cuh"

namespace chutoro::cuda_detail {

std::int32_t knn_stage(std::int32_t device, const float* rows, std::uint64_t n, std::uint64_t dim,
                       std::uint64_t stride, std::int32_t metric, std::uint64_t min_samples,
                       std::uint64_t k_graph, float* core_out, chutoro_cuda_edge* tree_out,
                       std::uint64_t* knn_components, chutoro_cuda_progress_fn progress,
                       void* progress_context, char* error) {
  static constexpr tree_stage_text text{
      "knn tree", "kNN candidates", "need",
      "use fewer rows, a smaller min_samples or device=cpu with candidates=hnsw"};
  knn_options opt;
  opt.k_graph = static_cast<std::size_t>(k_graph);
  return run_tree_stage(
      text, device, rows, n, dim, stride, metric, min_samples, opt,
      [&](const knn_options& o) {
        const std::size_t k =
            knn_neighbours(static_cast<std::size_t>(n), static_cast<std::size_t>(min_samples), o.k_graph);
        return knn_device_bytes(n, stride, k, o.heap_bytes);
      },
      [](const exact_input& in, const knn_options& o) { return knn_hdbscan(in, o); },
      [&](const knn_tree& t) {
        if (knn_components != nullptr) *knn_components = t.knn_components;
      },
      core_out, tree_out, progress, progress_context, error);
}

}  // namespace chutoro::cuda_detail
