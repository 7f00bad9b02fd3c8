// chutoro — what the CUDA module's stages (forest.cu, exact.cu, knn.cu) share
// between their algorithm and the C ABI: CHUTORO_CUDA_MEMORY_LIMIT read as a
// status, and one translation of whatever a stage throws into a status and a
// message (internal to libchutoro_cuda.so; nvcc only).
#pragma once

#include <thrust/system/cuda/error.h>
#include <thrust/system/detail/bad_alloc.h>
#include <thrust/system_error.h>

#include <chutoro/error.hpp>
#include <cstdint>
#include <new>

#include "cuda/module_internal.hpp"

namespace chutoro::cuda_detail {

/// Thrown through a stage when its progress callback asks to stop.
struct cancelled {};

/// Bytes per MiB, for the messages.
inline constexpr double kMiB = 1024.0 * 1024.0;

/// Free and total device memory in MiB for an out-of-memory message, after
/// the failed allocation's error is cleared (0 and 0 when the query fails too).
struct device_memory_mib {
  double free = 0, total = 0;
};
inline device_memory_mib device_memory_for_message() {
  (void)cudaGetLastError();
  std::size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) free_bytes = total_bytes = 0;
  (void)cudaGetLastError();
  return {static_cast<double>(free_bytes) / kMiB, static_cast<double>(total_bytes) / kMiB};
}

/// CHUTORO_CUDA_MEMORY_LIMIT into *limit (0: unset) and *text (its value):
/// CHUTORO_CUDA_OK, or CHUTORO_CUDA_ERR_INVALID_ARGUMENT naming the bad value.
inline std::int32_t read_memory_limit(long double* limit, const char** text, char* error) {
  *limit = memory_limit(text);
  if (*limit >= 0) return CHUTORO_CUDA_OK;
  return fail(
      error, CHUTORO_CUDA_ERR_INVALID_ARGUMENT,
      "CHUTORO_CUDA_MEMORY_LIMIT=\"%.60s\" is not a byte count (digits, optionally followed by K, M or G)",
      *text);
}

/// body() (a status) with every exception a status: cancelled ->
/// CHUTORO_CUDA_ERR_CANCELLED ("<stage>: cancelled"); out of device memory ->
/// out_of_memory() (the stage's message with the bytes needed and free);
/// another CUDA error -> translate(); out of host memory ->
/// CHUTORO_CUDA_ERR_OUT_OF_MEMORY ("out of host memory: <host_what>");
/// chutoro::error -> INVALID_ARGUMENT for bad input, else INTERNAL.
template <class Body, class OutOfMemory>
std::int32_t run_stage(const char* stage, const char* host_what, char* error, OutOfMemory&& out_of_memory,
                       Body&& body) {
  try {
    return body();
  } catch (const cancelled&) {
    return fail(error, CHUTORO_CUDA_ERR_CANCELLED, "%s: cancelled", stage);
  } catch (const thrust::system::detail::bad_alloc&) {
    return out_of_memory();
  } catch (const thrust::system_error& x) {
    if (x.code().category() == thrust::cuda_category()) {
      const auto c = static_cast<cudaError_t>(x.code().value());
      if (c == cudaErrorMemoryAllocation) return out_of_memory();
      return translate(c, stage, error);
    }
    return fail(error, CHUTORO_CUDA_ERR_CUDA, "%s: %s", stage, x.what());
  } catch (const std::bad_alloc&) {
    return fail(error, CHUTORO_CUDA_ERR_OUT_OF_MEMORY, "out of host memory: %s", host_what);
  } catch (const chutoro::error& x) {
    const bool bad_input =
        x.code() == chutoro::error_code::invalid_argument || x.code() == chutoro::error_code::unsupported;
    return fail(error, bad_input ? CHUTORO_CUDA_ERR_INVALID_ARGUMENT : CHUTORO_CUDA_ERR_INTERNAL, "%s",
                x.what());
  }
}

}  // namespace chutoro::cuda_detail
