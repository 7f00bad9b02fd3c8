// chutoro — SIMD dense kernels chosen at run time (Google Highway dynamic
// dispatch). Each kernel takes two rows of `stride` floats, stride a multiple
// of 16, both 64-byte aligned, and is thread safe and noexcept.
// The float32 kernels accumulate in float32; squared_l2_wide accumulates in
// double, where every (a_k - b_k)^2 of finite float32 values and their sum fit
// (float32 spans 2^-149 .. 2^128, its squares 2^-298 .. 2^256; double
// 2^-1074 .. 2^1024). l2, the euclidean distance, takes the float32 sum and
// falls back on the double one for the rare pairs whose float32 sum of squares
// overflowed or may have lost terms to underflow (dense_kernels.hpp,
// squares_in_range; docs/metrics.md, "Extreme scales").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace chutoro::detail {

using dense_kernel = float (*)(const float*, const float*, std::size_t);
using wide_kernel = double (*)(const float*, const float*, std::size_t);
/// One query row against many rows of a matrix: out[k] = kernel(q, base + ids[k] * stride, stride)
/// bit for bit (the same per-pair accumulation order), four rows per pass so the
/// query's vectors are loaded once for four rows.
using rows_kernel = void (*)(const float* q, const float* base, std::size_t stride, const std::uint32_t* ids,
                             std::size_t n, float* out);

struct dense_kernel_table {
  dense_kernel squared_l2 = nullptr;  ///< sum (a_k - b_k)^2
  dense_kernel l1 = nullptr;          ///< sum |a_k - b_k|
  dense_kernel dot = nullptr;         ///< sum a_k b_k
  /// sqrt(sum (a_k - b_k)^2), finite and right to float32 rounding for any finite
  /// rows whose distance fits float32 (a subnormal result: to the nearest subnormal)
  dense_kernel l2 = nullptr;
  wide_kernel squared_l2_wide = nullptr;  ///< sum (a_k - b_k)^2 in double
  std::string target;                     ///< Highway target name, lower case ("avx2", "avx3", "sse4", ...)
  rows_kernel l1_rows = nullptr;          ///< l1 of one row against many
  rows_kernel dot_rows = nullptr;         ///< dot of one row against many
  rows_kernel l2_rows = nullptr;          ///< l2 of one row against many
};

/// The kernels of the best target the CPU supports, or of the target named by
/// the environment variable CHUTORO_SIMD_TARGET (read once, at first use;
/// an unknown or unsupported name throws error(invalid_argument) listing the
/// available ones). Thread safe.
const dense_kernel_table& dense_kernels();

struct simd_target_info {
  std::int64_t bits;  ///< Highway target bit
  std::string name;   ///< lower-case name
};

/// Targets compiled into this build that this CPU supports, best first.
std::vector<simd_target_info> compiled_simd_targets();

/// The kernels of one specific target (for tests and benchmarks).
dense_kernel_table dense_kernels_for(std::int64_t target);

}  // namespace chutoro::detail
