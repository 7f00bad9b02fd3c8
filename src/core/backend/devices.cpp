// chutoro — list_devices(): the GPUs the CUDA module sees (see chutoro/devices.hpp).
#include <chutoro/devices.hpp>

#include "core/backend/cuda_loader.hpp"

namespace chutoro {

std::string cuda_version_string(int version) {
  if (version <= 0) return "none";
  return std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
}

namespace detail {

device_list describe_devices(const cuda_module& module) {
  device_list out;
  out.module = module.file().string();
  out.module_build = module.build_info();
  out.runtime_version = module.runtime_version();
  try {
    const auto [driver, runtime] = module.versions();
    out.driver_version = driver;
    out.runtime_version = runtime;
    const int count = module.device_count();
    for (int i = 0; i < count; ++i) {
      try {
        out.devices.push_back(module.device(i));
      } catch (const cuda_error& e) {
        out.reason +=
            (out.reason.empty() ? "" : "; ") + ("CUDA device " + std::to_string(i) + ": " + e.reason());
      }
    }
  } catch (const cuda_error& e) {
    out.reason = e.reason();
  } catch (const error& e) {
    out.reason = e.what();
  }
  return out;
}

}  // namespace detail

device_list list_devices() {
  std::string reason;
  const detail::cuda_module* module = detail::load_cuda_module(&reason);
  if (module == nullptr) {
    device_list out;
    out.reason = reason;
    return out;
  }
  return detail::describe_devices(*module);
}

}  // namespace chutoro
