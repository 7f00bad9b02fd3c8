// chutoro — choosing the backend (backend.hpp): build_params::device, the
// CHUTORO_DEVICE environment variable, and the promotion gate.
//
// Precedence, as scikit-learn / threadpoolctl users expect of an environment
// variable (OMP_NUM_THREADS sets a default that an explicit n_jobs
// overrides): an explicit device (cpu, cuda) wins; device = auto (the
// default) defers to CHUTORO_DEVICE when it is set and not empty; otherwise
// auto chooses by the promotion gate. CHUTORO_DEVICE is read at every
// selection (each fit, model, load, set_device), only when the request is
// auto, so an invalid value is an error exactly when it would be used.
#include "core/backend/backend.hpp"

#include <chutoro/error.hpp>
#include <chutoro/fit.hpp>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace chutoro::detail {

device_kind resolve_device_request(device_kind requested) {
  if (requested != device_kind::auto_select) return requested;
  const char* env = std::getenv("CHUTORO_DEVICE");
  if (env == nullptr || *env == '\0') return device_kind::auto_select;
  const std::string_view v(env);
  if (v == "auto") return device_kind::auto_select;
  if (v == "cpu") return device_kind::cpu;
  if (v == "cuda") return device_kind::cuda;
  throw error(error_code::invalid_argument,
              "CHUTORO_DEVICE: unknown value '" + std::string(v) +
                  "' (expected auto, cpu or cuda; unset it or leave it empty for auto)");
}

backend_choice select_backend(device_kind requested) {
  const device_kind wanted = resolve_device_request(requested);
  switch (wanted) {
    case device_kind::cpu:
      return {shared_cpu_backend(), device_kind::cpu, {}};
    case device_kind::cuda:
      // Every GPU-capable stage on the GPU, or cuda_error (error_code
      // unsupported, "device cuda: <why>": module not found, no driver, ...).
      return {make_cuda_backend(), device_kind::cuda, {}};
    case device_kind::auto_select:
      break;
  }
  // auto: the CUDA backend restricted to the stages that passed the promotion
  // gate, when a GPU can be used and one stage passed; else the CPU, saying why.
  std::string reason;
  if (std::shared_ptr<const backend> gpu = promoted_cuda_backend(&reason))
    return {std::move(gpu), device_kind::cuda, {}};
  return {shared_cpu_backend(), device_kind::cpu, std::move(reason)};
}

}  // namespace chutoro::detail

namespace chutoro {

device_selection select_device(device_kind requested) {
  detail::backend_choice c = detail::select_backend(requested);
  return {c.device, std::move(c.fallback_reason)};
}

}  // namespace chutoro
