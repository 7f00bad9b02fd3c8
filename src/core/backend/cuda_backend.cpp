// chutoro — the CUDA backend (backend.hpp): the CPU backend with the stages
// the CUDA module (libchutoro_cuda.so, loaded at run time by cuda_loader.hpp)
// runs on a GPU. Today those are
//  - the spanning-forest solver: FISHDBC's compactions and final trees by
//    Borůvka on the device (src/cuda/boruvka.cuh), the same edges in the same
//    order as the CPU's Filter-Kruskal;
//  - the exact mode (candidates = exact) of dense float32 data (dense_source:
//    euclidean, cosine, manhattan; product_source: inner_product, angular):
//    core distances and the tree on the device (src/cuda/exact.cuh), the
//    hierarchy on the host. Other sources' exact mode stays on the CPU (the
//    GPU has no stage for them), as does any stage the module lacks;
//  - GPU candidates (candidates = knn) of the same dense float32 sources:
//    the exact kNN graph, its forest and the exact join of its components
//    on the device (src/cuda/knn.cuh), the hierarchy on the host. This mode
//    exists only here: other sources, or a module without the stage, are
//    error(unsupported) naming why.
// Every other stage is the CPU's.
//
// Which stages `auto` may use is the promotion gate (DESIGN.md section 4): a
// GPU stage is promoted only once it has been measured at least 2x faster
// than the CPU at the same result on a GPU machine (scripts/gpu_check.sh,
// docs/gpu.md). promoted_stages lists them; it is empty until such a
// measurement exists, so `auto` runs on the CPU and says why, without
// loading the module (no CUDA runtime start-up for CPU runs).
#include <algorithm>
#include <chrono>
#include <chutoro/error.hpp>
#include <chutoro/metrics.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/backend/backend.hpp"
#include "core/backend/cuda_loader.hpp"

namespace chutoro::detail {

namespace {

/// GPU stages that passed the promotion gate (measured >= 2x the CPU at the
/// same result). None yet: no GPU measurement has been made (docs/gpu.md).
constexpr bool forest_promoted = false;
constexpr bool exact_promoted = false;
/// The kNN-candidates stage is never reached through `auto` (candidates =
/// knn must be asked for, and the CPU backend refuses it); the gate stays
/// closed until a GPU measurement exists (scripts/gpu_check.sh).
constexpr bool knn_promoted = false;

/// Which stages a cuda_backend runs on the GPU.
struct gpu_stages {
  bool forest = true;
  bool exact = true;
  bool knn = true;
};

/// The module's metric code for `data` when the exact stage takes it (dense
/// float32 rows of a built-in dense or product source), else -1.
std::int32_t exact_metric_code(const data_source& data) {
  const std::optional<matrix_view> v = data.matrix();
  if (!v || v->dtype != element_type::float32 || v->stride % 16 != 0) return -1;
  if (data.kind() == source_kind::dense) {
    switch (static_cast<const dense_source&>(data).metric()) {
      case dense_metric::euclidean:
        return CHUTORO_CUDA_METRIC_EUCLIDEAN;
      case dense_metric::cosine:
        return CHUTORO_CUDA_METRIC_COSINE;
      case dense_metric::manhattan:
        return CHUTORO_CUDA_METRIC_MANHATTAN;
      default:  // the weighted and parametrised metrics stay on the CPU
        break;
    }
  }
  if (data.kind() == source_kind::products) {
    return static_cast<const product_source&>(data).metric() == product_metric::angular
               ? CHUTORO_CUDA_METRIC_ANGULAR
               : CHUTORO_CUDA_METRIC_INNER_PRODUCT;
  }
  return -1;
}

/// The CPU backend whose forest solver and exact mode run on `device` of
/// `module` (those of `stages` the module offers).
class cuda_backend final : public cpu_backend {
 public:
  cuda_backend(const cuda_module& module, int device, gpu_stages stages)
      : module_(module), device_(device), stages_(stages) {}

  [[nodiscard]] device_kind device() const noexcept override { return device_kind::cuda; }

  [[nodiscard]] spanning_tree build_exact(const data_source& data, const build_params& bp, fit_stats& stats,
                                          const progress_fn& progress) const override {
    const std::int32_t metric = stages_.exact && module_.has_exact_tree() ? exact_metric_code(data) : -1;
    if (metric < 0) return cpu_backend::build_exact(data, bp, stats, progress);
    const matrix_view v = *data.matrix();
    const std::size_t n = v.rows;
    const auto t0 = std::chrono::steady_clock::now();
    spanning_tree tree = module_.exact_tree(
        device_, std::span<const float>(static_cast<const float*>(v.data), n * v.stride), n, v.cols, v.stride,
        metric, bp.min_samples.value(), [&](std::string_view stage, std::size_t done, std::size_t total) {
          if (progress) progress(stage, done, total);
        });
    // The same counts as the CPU's exact mode (all pairs for the core
    // distances, the tree's pass); the time goes to the graph stage (core
    // distances and tree are one device stage here).
    stats.distance_computations += std::uint64_t(n) * (n - 1) + std::uint64_t(n) * (n - 1) / 2;
    stats.candidate_edges += std::uint64_t(n) * (n - 1) / 2;
    stats.seconds_graph += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return tree;
  }

  [[nodiscard]] spanning_tree build_knn(const data_source& data, const build_params& bp, fit_stats& stats,
                                        const progress_fn& progress) const override {
    if (!stages_.knn) return cpu_backend::build_knn(data, bp, stats, progress);
    expects(module_.has_knn_tree(), error_code::unsupported,
            "candidates = knn: the CUDA module " + module_.file().string() +
                " offers no kNN-candidates stage (caps lacks CHUTORO_CUDA_STAGE_KNN_TREE)");
    const std::int32_t metric = exact_metric_code(data);
    expects(metric >= 0, error_code::unsupported,
            "candidates = knn on the GPU takes dense float32 vectors under euclidean, cosine, manhattan, "
            "inner_product or angular; data source '" +
                data.name() + "' is not one (use candidates = hnsw or exact)");
    const matrix_view v = *data.matrix();
    const std::size_t n = v.rows;
    const auto t0 = std::chrono::steady_clock::now();
    std::size_t components = 0;
    spanning_tree tree =
        module_.knn_tree(device_, std::span<const float>(static_cast<const float*>(v.data), n * v.stride), n,
                         v.cols, v.stride, metric, bp.min_samples.value(), 0, &components,
                         [&](std::string_view stage, std::size_t done, std::size_t total) {
                           if (progress) progress(stage, done, total);
                         });
    // All pairs for the kNN lists; the edges offered to the forest (n k, k =
    // 2 min_samples capped at n - 1); the join rounds' distances are not counted.
    const std::uint64_t k =
        std::min<std::uint64_t>(n - 1, std::max<std::uint64_t>(1, 2 * bp.min_samples.value()));
    stats.distance_computations += std::uint64_t(n) * (n - 1);
    stats.candidate_edges += std::uint64_t(n) * k;
    stats.seconds_graph += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return tree;
  }

  [[nodiscard]] std::vector<raw_edge> minimum_spanning_forest(std::size_t n, std::span<const raw_edge> edges,
                                                              std::span<const raw_edge> more,
                                                              std::span<const float> core) const override {
    if (!stages_.forest) return cpu_backend::minimum_spanning_forest(n, edges, more, core);
    return module_.spanning_forest(device_, n, edges, more, core);
  }

  [[nodiscard]] std::vector<raw_edge> compact(std::size_t n, std::vector<raw_edge>&& edges,
                                              std::vector<raw_edge>&& more,
                                              std::span<const float> core) const override {
    if (!stages_.forest) return cpu_backend::compact(n, std::move(edges), std::move(more), core);
    // The module uploads both lists, so the host copies can go once it returns.
    std::vector<raw_edge> forest = minimum_spanning_forest(n, edges, more, core);
    edges = {}, more = {};
    return forest;
  }

 private:
  const cuda_module& module_;  // loaded once, never unloaded (cuda_loader.hpp)
  int device_;
  gpu_stages stages_;
};

}  // namespace

const char* const auto_fallback_reason =
    "no GPU stage has passed the promotion gate yet (>= 2x the CPU at the same result, measured on a "
    "GPU: docs/gpu.md)";

std::shared_ptr<const backend> make_cuda_backend() {
  const cuda_module& module = require_cuda_module();  // cuda_error: why no module
  return std::make_shared<cuda_backend>(module, module.pick_device(),
                                        gpu_stages{});  // cuda_error: why no device
}

std::shared_ptr<const backend> promoted_cuda_backend(std::string* reason) {
  if (!forest_promoted && !exact_promoted && !knn_promoted) {
    *reason = auto_fallback_reason;
    return nullptr;
  }
  try {
    const cuda_module& module = require_cuda_module();
    return std::make_shared<cuda_backend>(module, module.pick_device(),
                                          gpu_stages{forest_promoted, exact_promoted, knn_promoted});
  } catch (const cuda_error& e) {
    if (!gpu_unavailable(e.status())) throw;
    *reason = "no usable GPU: " + e.reason();
    return nullptr;
  }
}

}  // namespace chutoro::detail
