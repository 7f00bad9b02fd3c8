// chutoro — the CUDA backend (backend.hpp): the CPU backend with the stages
// the CUDA module (libchutoro_cuda.so, loaded at run time by cuda_loader.hpp)
// runs on a GPU. Today that is the spanning-forest solver: FISHDBC's
// compactions and final trees by Borůvka on the device (src/cuda/boruvka.cuh),
// the same edges in the same order as the CPU's Filter-Kruskal. Every other
// stage is the CPU's.
//
// Which stages `auto` may use is the promotion gate (DESIGN.md section 4): a
// GPU stage is promoted only once it has been measured at least 2x faster
// than the CPU at the same result on a GPU machine (scripts/gpu_check.sh,
// docs/gpu.md). promoted_stages lists them; it is empty until such a
// measurement exists, so `auto` runs on the CPU and says why, without
// loading the module (no CUDA runtime start-up for CPU runs).
#include <chutoro/error.hpp>
#include <memory>
#include <string>
#include <utility>

#include "core/backend/backend.hpp"
#include "core/backend/cuda_loader.hpp"

namespace chutoro::detail {

namespace {

/// GPU stages that passed the promotion gate (measured >= 2x the CPU at the
/// same result). None yet: no GPU measurement has been made (docs/gpu.md).
constexpr bool forest_promoted = false;

/// The CPU backend whose forest solver runs on `device` of `module`.
class cuda_backend final : public cpu_backend {
 public:
  cuda_backend(const cuda_module& module, int device) : module_(module), device_(device) {}

  [[nodiscard]] device_kind device() const noexcept override { return device_kind::cuda; }

  [[nodiscard]] std::vector<raw_edge> minimum_spanning_forest(std::size_t n, std::span<const raw_edge> edges,
                                                              std::span<const raw_edge> more,
                                                              std::span<const float> core) const override {
    return module_.spanning_forest(device_, n, edges, more, core);
  }

  [[nodiscard]] std::vector<raw_edge> compact(std::size_t n, std::vector<raw_edge>&& edges,
                                              std::vector<raw_edge>&& more,
                                              std::span<const float> core) const override {
    // The module uploads both lists, so the host copies can go once it returns.
    std::vector<raw_edge> forest = minimum_spanning_forest(n, edges, more, core);
    edges = {}, more = {};
    return forest;
  }

 private:
  const cuda_module& module_;  // loaded once, never unloaded (cuda_loader.hpp)
  int device_;
};

}  // namespace

const char* const auto_fallback_reason =
    "no GPU stage has passed the promotion gate yet (>= 2x the CPU at the same result, measured on a "
    "GPU: docs/gpu.md)";

std::shared_ptr<const backend> make_cuda_backend() {
  const cuda_module& module = require_cuda_module();                    // cuda_error: why no module
  return std::make_shared<cuda_backend>(module, module.pick_device());  // cuda_error: why no device
}

std::shared_ptr<const backend> promoted_cuda_backend(std::string* reason) {
  if (!forest_promoted) {
    *reason = auto_fallback_reason;
    return nullptr;
  }
  try {
    return make_cuda_backend();
  } catch (const cuda_error& e) {
    if (!gpu_unavailable(e.status())) throw;
    *reason = "no usable GPU: " + e.reason();
    return nullptr;
  }
}

}  // namespace chutoro::detail
