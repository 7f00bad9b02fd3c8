// chutoro — what the CUDA module's translation units share (internal to
// libchutoro_cuda.so: module.cpp, forest.cu, exact.cu, knn.cu). Needs the CUDA runtime headers.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <exception>
#include <new>

#include "cuda/cuda_module.h"

namespace chutoro::cuda_detail {

/// Writes a printf-formatted message into `error` (CHUTORO_CUDA_ERROR_MAX
/// bytes; NULL allowed) and returns `code`.
std::int32_t fail(char* error, std::int32_t code, const char* format, ...)
    __attribute__((format(printf, 3, 4)));

/// Status and message for the CUDA error `e` returned by `call`: no driver,
/// driver too old, no device, out of memory and missing code get their own
/// status and plain words; the rest CHUTORO_CUDA_ERR_CUDA with CUDA's name.
/// Clears the runtime's last (non-sticky) error.
std::int32_t translate(cudaError_t e, const char* call, char* error);

/// Whether the module carries code (sm_XY machine code of the same major, or
/// PTX) for compute capability major.minor.
bool runs_on(int major, int minor);
/// The lowest compute capability the module has code for, 10 * major + minor.
int min_compute_capability();

/// Runs `body(error)` with `device` current on the calling thread (the
/// previous current device is restored after), turning exceptions into
/// statuses, so nothing escapes through the C ABI.
template <class Body>
std::int32_t with_device(std::int32_t device, char* error, Body&& body) noexcept {
  int previous = -1;
  if (cudaGetDevice(&previous) != cudaSuccess) previous = -1;
  const cudaError_t e = cudaSetDevice(device);
  if (e != cudaSuccess) return translate(e, "cudaSetDevice", error);
  std::int32_t status = CHUTORO_CUDA_ERR_INTERNAL;
  try {
    status = body(error);
  } catch (const std::bad_alloc&) {
    status = fail(error, CHUTORO_CUDA_ERR_OUT_OF_MEMORY, "out of host memory");
  } catch (const std::exception& x) {
    status = fail(error, CHUTORO_CUDA_ERR_INTERNAL, "unexpected exception: %s", x.what());
  } catch (...) {
    status = fail(error, CHUTORO_CUDA_ERR_INTERNAL, "unexpected exception of unknown type");
  }
  if (previous >= 0 && previous != device) (void)cudaSetDevice(previous);
  return status;
}

/// The spanning-forest stage on the current device (forest.cu); arguments
/// and result as chutoro_cuda_v3::spanning_forest, already checked: n <
/// 2^32, non-empty buffers non-NULL, the device runs the module's code.
std::int32_t forest_stage(std::int32_t device, std::uint64_t n, const chutoro_cuda_edge* edges,
                          std::uint64_t m, const chutoro_cuda_edge* more, std::uint64_t m2, const float* core,
                          chutoro_cuda_edge* out, std::uint64_t* out_count, char* error);

/// The exact stage on the current device (exact.cu); arguments and result as
/// chutoro_cuda_v3::exact_tree, already checked (shapes, metric code,
/// min_samples, buffers, the device runs the module's code).
std::int32_t exact_stage(std::int32_t device, const float* rows, std::uint64_t n, std::uint64_t dim,
                         std::uint64_t stride, std::int32_t metric, std::uint64_t min_samples,
                         float* core_out, chutoro_cuda_edge* tree_out, chutoro_cuda_progress_fn progress,
                         void* progress_context, char* error);

/// The kNN-candidates stage on the current device (knn.cu); arguments and
/// result as chutoro_cuda_v3::knn_tree, already checked as exact_stage's.
std::int32_t knn_stage(std::int32_t device, const float* rows, std::uint64_t n, std::uint64_t dim,
                       std::uint64_t stride, std::int32_t metric, std::uint64_t min_samples,
                       std::uint64_t k_graph, float* core_out, chutoro_cuda_edge* tree_out,
                       std::uint64_t* knn_components, chutoro_cuda_progress_fn progress,
                       void* progress_context, char* error);

/// CHUTORO_CUDA_MEMORY_LIMIT: the bytes (suffix K, M or G: KiB, MiB, GiB) a
/// stage may plan to use; 0 when unset, -1 when malformed (*text: the value).
long double memory_limit(const char** text);

}  // namespace chutoro::cuda_detail
