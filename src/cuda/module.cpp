// chutoro — the CUDA module's entry point, device queries and error
// translation (host code: built by the host compiler against the CUDA
// runtime API, linked with the static CUDA runtime into libchutoro_cuda.so).
// The ABI is src/cuda/cuda_module.h; the forest stage is forest.cu, the
// exact stage exact.cu, the kNN-candidates stage knn.cu.
#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "cuda/cuda_module.h"
#include "cuda/module_internal.hpp"

#ifndef CHUTORO_CUDA_SASS
#error "CHUTORO_CUDA_SASS (the sm_XY machine code, e.g. \"75,80,90\") is set by CMake"
#endif
#ifndef CHUTORO_CUDA_PTX
#error "CHUTORO_CUDA_PTX (the compute_XY PTX, e.g. \"90\") is set by CMake"
#endif
#ifndef CHUTORO_CUDA_BUILD_INFO
#error "CHUTORO_CUDA_BUILD_INFO is set by CMake"
#endif

namespace chutoro::cuda_detail {

std::int32_t fail(char* error, std::int32_t code, const char* format, ...) {
  if (error != nullptr) {
    va_list args;
    va_start(args, format);
    std::vsnprintf(error, CHUTORO_CUDA_ERROR_MAX, format, args);
    va_end(args);
  }
  return code;
}

namespace {

/// "13.0" for 13000 (CUDA's 1000 * major + 10 * minor).
struct version_text {
  char text[24];
  explicit version_text(int v) { std::snprintf(text, sizeof text, "%d.%d", v / 1000, (v % 1000) / 10); }
};

/// Whether the comma-separated compute capabilities `list` ("75,80,90")
/// hold one that runs on `cc` (10 * major + minor): machine code sm_XY runs
/// on the same major with minor >= Y (`sass`), PTX compute_XY on any cc >= XY.
bool list_runs_on(const char* list, int cc, bool sass) {
  const char* p = list;
  while (*p != '\0') {
    char* end = nullptr;
    const long arch = std::strtol(p, &end, 10);
    if (end == p) break;
    if (sass ? (arch / 10 == cc / 10 && arch <= cc) : (arch <= cc)) return true;
    p = (*end == ',') ? end + 1 : end;
  }
  return false;
}

int lowest_in(const char* list) {
  int lowest = 0;
  const char* p = list;
  while (*p != '\0') {
    char* end = nullptr;
    const long arch = std::strtol(p, &end, 10);
    if (end == p) break;
    if (lowest == 0 || arch < lowest) lowest = static_cast<int>(arch);
    p = (*end == ',') ? end + 1 : end;
  }
  return lowest;
}

/// The NVIDIA driver library, looked for once: the static CUDA runtime
/// loads it itself, but reports its absence only as "insufficient driver".
struct driver_probe {
  bool found = false;
  char why[256] = {};
};

const driver_probe& probe_driver() {
  static const driver_probe probe = [] {
    driver_probe p;
    // Stays loaded (the runtime uses the same library).
    if (::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL) != nullptr) {
      p.found = true;
    } else {
      const char* why = ::dlerror();
      std::snprintf(p.why, sizeof p.why, "%s", why != nullptr ? why : "dlopen failed");
    }
    return p;
  }();
  return probe;
}

const char* visible_devices_note() {
  const char* v = std::getenv("CUDA_VISIBLE_DEVICES");
  if (v == nullptr) return "";
  static thread_local char note[160];
  std::snprintf(note, sizeof note, "; CUDA_VISIBLE_DEVICES=\"%.100s\"", v);
  return note;
}

std::int32_t no_driver(char* error) {
  const char* why = probe_driver().why;
  if (std::strstr(why, "cannot open shared object file") != nullptr)
    return fail(error, CHUTORO_CUDA_ERR_NO_DRIVER, "no NVIDIA driver (libcuda.so.1 not found)");
  return fail(error, CHUTORO_CUDA_ERR_NO_DRIVER, "no NVIDIA driver (libcuda.so.1 cannot be loaded: %s)", why);
}

std::int32_t versions(std::int32_t* driver_version, std::int32_t* runtime_version, char* error) {
  if (driver_version == nullptr || runtime_version == nullptr)
    return fail(error, CHUTORO_CUDA_ERR_INVALID_ARGUMENT, "versions: an output pointer is NULL");
  *runtime_version = CUDART_VERSION;
  *driver_version = 0;
  if (!probe_driver().found) return no_driver(error);
  int d = 0;
  if (cudaDriverGetVersion(&d) != cudaSuccess) d = 0;
  (void)cudaGetLastError();
  if (d <= 0) {  // a library that is no driver (the toolkit's stub)
    return fail(
        error, CHUTORO_CUDA_ERR_NO_DRIVER,
        "no NVIDIA driver (libcuda.so.1 reports no driver version: the CUDA toolkit's stub library?)");
  }
  *driver_version = d;
  return CHUTORO_CUDA_OK;
}

std::int32_t device_count(std::int32_t* count, char* error) {
  if (count == nullptr) return fail(error, CHUTORO_CUDA_ERR_INVALID_ARGUMENT, "device_count: count is NULL");
  *count = 0;
  if (!probe_driver().found) return no_driver(error);
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) return translate(e, "cudaGetDeviceCount", error);
  if (n <= 0) {
    return fail(error, CHUTORO_CUDA_ERR_NO_DEVICE, "no CUDA device (the NVIDIA driver sees none%s)",
                visible_devices_note());
  }
  *count = n;
  return CHUTORO_CUDA_OK;
}

/// Checks `device` against the device count.
std::int32_t check_device(std::int32_t device, char* error) {
  std::int32_t n = 0;
  const std::int32_t status = device_count(&n, error);
  if (status != CHUTORO_CUDA_OK) return status;
  if (device < 0 || device >= n) {
    return fail(error, CHUTORO_CUDA_ERR_INVALID_ARGUMENT,
                "CUDA device %d does not exist (%d device%s: 0..%d)", static_cast<int>(device),
                static_cast<int>(n), n == 1 ? "" : "s", static_cast<int>(n - 1));
  }
  return CHUTORO_CUDA_OK;
}

std::int32_t device_info(std::int32_t device, chutoro_cuda_device_info* out, char* error) {
  if (out == nullptr) return fail(error, CHUTORO_CUDA_ERR_INVALID_ARGUMENT, "device_info: out is NULL");
  std::memset(out, 0, sizeof *out);
  std::int32_t status = check_device(device, error);
  if (status != CHUTORO_CUDA_OK) return status;
  cudaDeviceProp prop{};
  cudaError_t e = cudaGetDeviceProperties(&prop, device);
  if (e != cudaSuccess) return translate(e, "cudaGetDeviceProperties", error);
  std::snprintf(out->name, sizeof out->name, "%s", prop.name);
  out->compute_major = prop.major;
  out->compute_minor = prop.minor;
  out->multiprocessors = prop.multiProcessorCount;
  out->supported = runs_on(prop.major, prop.minor) ? 1 : 0;
  out->total_memory_bytes = prop.totalGlobalMem;
  e = cudaDeviceGetPCIBusId(out->pci_bus_id, static_cast<int>(sizeof out->pci_bus_id), device);
  if (e != cudaSuccess) return translate(e, "cudaDeviceGetPCIBusId", error);
  // Free memory needs the device's context (made here if it was not yet).
  std::size_t free_bytes = 0, total_bytes = 0;
  status = with_device(device, error, [&](char* err) -> std::int32_t {
    const cudaError_t m = cudaMemGetInfo(&free_bytes, &total_bytes);
    return m == cudaSuccess ? CHUTORO_CUDA_OK : translate(m, "cudaMemGetInfo", err);
  });
  if (status != CHUTORO_CUDA_OK) return status;
  out->free_memory_bytes = free_bytes;
  return CHUTORO_CUDA_OK;
}

/// Checks that `device` exists and runs the module's code.
std::int32_t check_runs(std::int32_t device, char* error) {
  std::int32_t status = check_device(device, error);
  if (status != CHUTORO_CUDA_OK) return status;
  int major = 0, minor = 0;
  cudaError_t e = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  if (e == cudaSuccess) e = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
  if (e != cudaSuccess) return translate(e, "cudaDeviceGetAttribute", error);
  if (!runs_on(major, minor)) {
    return fail(
        error, CHUTORO_CUDA_ERR_COMPUTE_CAPABILITY,
        "compute capability too low: CUDA device %d has compute capability %d.%d; this module runs on "
        ">= %d.%d (%s)",
        static_cast<int>(device), major, minor, min_compute_capability() / 10, min_compute_capability() % 10,
        CHUTORO_CUDA_BUILD_INFO);
  }
  return CHUTORO_CUDA_OK;
}

std::int32_t spanning_forest(std::int32_t device, std::uint64_t n, const chutoro_cuda_edge* edges,
                             std::uint64_t m, const chutoro_cuda_edge* more, std::uint64_t m2,
                             const float* core, chutoro_cuda_edge* out, std::uint64_t* out_count,
                             char* error) {
  if (out_count == nullptr)
    return fail(error, CHUTORO_CUDA_ERR_INVALID_ARGUMENT, "spanning_forest: out_count is NULL");
  *out_count = 0;
  if (n >= (std::uint64_t{1} << 32))
    return fail(error, CHUTORO_CUDA_ERR_INVALID_ARGUMENT, "spanning_forest: n = %llu items, at most 2^32 - 1",
                static_cast<unsigned long long>(n));
  if ((m > 0 && edges == nullptr) || (m2 > 0 && more == nullptr) || (n > 1 && out == nullptr))
    return fail(error, CHUTORO_CUDA_ERR_INVALID_ARGUMENT, "spanning_forest: a non-empty buffer is NULL");
  const std::int32_t status = check_runs(device, error);
  if (status != CHUTORO_CUDA_OK) return status;
  return with_device(device, error, [&](char* err) {
    return forest_stage(device, n, edges, m, more, m2, core, out, out_count, err);
  });
}

/// The checks exact_tree and knn_tree share (`what` names the call).
std::int32_t check_rows(const char* what, const float* rows, std::uint64_t n, std::uint64_t dim,
                        std::uint64_t stride, std::int32_t metric, std::uint64_t min_samples,
                        const float* core_out, const chutoro_cuda_edge* tree_out, char* error) {
  if (n == 0 || n >= (std::uint64_t{1} << 32))
    return fail(error, CHUTORO_CUDA_ERR_INVALID_ARGUMENT, "%s: n = %llu items (expected 1..2^32 - 1)", what,
                static_cast<unsigned long long>(n));
  if (dim == 0 || stride < dim || stride % 16 != 0)
    return fail(error, CHUTORO_CUDA_ERR_INVALID_ARGUMENT,
                "%s: row stride %llu for %llu columns (expected a multiple of 16, at least the columns)",
                what, static_cast<unsigned long long>(stride), static_cast<unsigned long long>(dim));
  if (metric < CHUTORO_CUDA_METRIC_EUCLIDEAN || metric > CHUTORO_CUDA_METRIC_ANGULAR)
    return fail(error, CHUTORO_CUDA_ERR_INVALID_ARGUMENT, "%s: unknown metric code %d", what,
                static_cast<int>(metric));
  if (min_samples < 1 || min_samples > n)
    return fail(error, CHUTORO_CUDA_ERR_INVALID_ARGUMENT, "%s: min_samples = %llu for %llu items", what,
                static_cast<unsigned long long>(min_samples), static_cast<unsigned long long>(n));
  if (rows == nullptr || core_out == nullptr || (n > 1 && tree_out == nullptr))
    return fail(error, CHUTORO_CUDA_ERR_INVALID_ARGUMENT, "%s: a non-empty buffer is NULL", what);
  return CHUTORO_CUDA_OK;
}

std::int32_t exact_tree(std::int32_t device, const float* rows, std::uint64_t n, std::uint64_t dim,
                        std::uint64_t stride, std::int32_t metric, std::uint64_t min_samples, float* core_out,
                        chutoro_cuda_edge* tree_out, chutoro_cuda_progress_fn progress,
                        void* progress_context, char* error) {
  std::int32_t status =
      check_rows("exact_tree", rows, n, dim, stride, metric, min_samples, core_out, tree_out, error);
  if (status == CHUTORO_CUDA_OK) status = check_runs(device, error);
  if (status != CHUTORO_CUDA_OK) return status;
  return with_device(device, error, [&](char* err) {
    return exact_stage(device, rows, n, dim, stride, metric, min_samples, core_out, tree_out, progress,
                       progress_context, err);
  });
}

std::int32_t knn_tree(std::int32_t device, const float* rows, std::uint64_t n, std::uint64_t dim,
                      std::uint64_t stride, std::int32_t metric, std::uint64_t min_samples,
                      std::uint64_t k_graph, float* core_out, chutoro_cuda_edge* tree_out,
                      std::uint64_t* knn_components, chutoro_cuda_progress_fn progress,
                      void* progress_context, char* error) {
  std::int32_t status =
      check_rows("knn_tree", rows, n, dim, stride, metric, min_samples, core_out, tree_out, error);
  if (status == CHUTORO_CUDA_OK) status = check_runs(device, error);
  if (status != CHUTORO_CUDA_OK) return status;
  return with_device(device, error, [&](char* err) {
    return knn_stage(device, rows, n, dim, stride, metric, min_samples, k_graph, core_out, tree_out,
                     knn_components, progress, progress_context, err);
  });
}

const chutoro_cuda_v3 vtable = {
    CHUTORO_CUDA_ABI_VERSION,
    CHUTORO_CUDA_DETERMINISTIC | CHUTORO_CUDA_STAGE_SPANNING_FOREST | CHUTORO_CUDA_STAGE_EXACT_TREE |
        CHUTORO_CUDA_STAGE_KNN_TREE,
    CUDART_VERSION,
    0,  // min_compute_capability, set below
    CHUTORO_CUDA_BUILD_INFO,
    &versions,
    &device_count,
    &device_info,
    &spanning_forest,
    &exact_tree,
    &knn_tree,
    {nullptr, nullptr, nullptr},
};

}  // namespace

bool runs_on(int major, int minor) {
  const int cc = 10 * major + minor;
  return list_runs_on(CHUTORO_CUDA_SASS, cc, true) || list_runs_on(CHUTORO_CUDA_PTX, cc, false);
}

int min_compute_capability() {
  const int sass = lowest_in(CHUTORO_CUDA_SASS), ptx = lowest_in(CHUTORO_CUDA_PTX);
  if (sass == 0) return ptx;
  if (ptx == 0) return sass;
  return std::min(sass, ptx);
}

std::int32_t translate(cudaError_t e, const char* call, char* error) {
  (void)cudaGetLastError();  // clears a non-sticky error, so the next call starts clean
  switch (e) {
    case cudaErrorInsufficientDriver: {
      int d = 0;
      if (cudaDriverGetVersion(&d) != cudaSuccess) d = 0;
      if (d == 0) return no_driver(error);
      return fail(error, CHUTORO_CUDA_ERR_DRIVER_TOO_OLD,
                  "NVIDIA driver too old (driver %s, this module needs >= %d.0): update the driver",
                  version_text(d).text, CUDART_VERSION / 1000);
    }
    case cudaErrorStubLibrary:
      return fail(error, CHUTORO_CUDA_ERR_NO_DRIVER,
                  "no NVIDIA driver (libcuda.so.1 is the CUDA toolkit's stub library, not a driver)");
    case cudaErrorNoDevice:
      return fail(error, CHUTORO_CUDA_ERR_NO_DEVICE, "no CUDA device (the NVIDIA driver sees none%s)",
                  visible_devices_note());
    case cudaErrorDevicesUnavailable:
      return fail(error, CHUTORO_CUDA_ERR_NO_DEVICE,
                  "no CUDA device (every device is busy or unavailable: exclusive-process compute mode?%s)",
                  visible_devices_note());
    case cudaErrorMemoryAllocation:
      return fail(error, CHUTORO_CUDA_ERR_OUT_OF_MEMORY, "out of device memory (%s)", call);
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorUnsupportedPtxVersion:
      return fail(error, CHUTORO_CUDA_ERR_COMPUTE_CAPABILITY,
                  "compute capability too low: %s: %s (this module: %s)", call, cudaGetErrorString(e),
                  CHUTORO_CUDA_BUILD_INFO);
    default:
      return fail(error, CHUTORO_CUDA_ERR_CUDA, "%s failed: %s (%s)", call, cudaGetErrorName(e),
                  cudaGetErrorString(e));
  }
}

}  // namespace chutoro::cuda_detail

extern "C" __attribute__((visibility("default"))) const chutoro_cuda_v3* chutoro_cuda_open(
    std::uint32_t host_abi_version, char* error) {
  using namespace chutoro::cuda_detail;
  if (host_abi_version != CHUTORO_CUDA_ABI_VERSION) {
    fail(error, CHUTORO_CUDA_ERR_INVALID_ARGUMENT,
         "the host speaks CUDA module ABI version %u, this module version %u: use the libchutoro_cuda.so "
         "built "
         "with this chutoro",
         static_cast<unsigned>(host_abi_version), static_cast<unsigned>(CHUTORO_CUDA_ABI_VERSION));
    return nullptr;
  }
  static const chutoro_cuda_v3 table = [] {
    chutoro_cuda_v3 t = vtable;
    t.min_compute_capability = min_compute_capability();
    return t;
  }();
  return &table;
}
