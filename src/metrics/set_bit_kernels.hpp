// chutoro — inline kernels of the set, bit-vector and inner-product sources
// (include/chutoro/metrics.hpp). Thread safe, noexcept.
#pragma once

#include <algorithm>
#include <bit>
#include <chutoro/metrics.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <span>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "metrics/dense_kernels.hpp"  // squared_l2_wide

namespace chutoro::detail {

inline float jaccard_kernel(std::span<const std::uint32_t> a, std::span<const std::uint32_t> b) noexcept {
  if (a.empty() && b.empty()) return 0.0f;
  std::size_t x = 0, y = 0, common = 0;
  while (x < a.size() && y < b.size()) {
    const std::uint32_t u = a[x], v = b[y];
    common += u == v;
    x += u <= v;
    y += v <= u;
  }
  const std::size_t uni = a.size() + b.size() - common;
  return static_cast<float>(1.0 - static_cast<double>(common) / static_cast<double>(uni));
}

inline float hamming_kernel(const std::uint64_t* a, const std::uint64_t* b, std::size_t words) noexcept {
  std::uint64_t c = 0;
  for (std::size_t w = 0; w < words; ++w) c += static_cast<std::uint64_t>(std::popcount(a[w] ^ b[w]));
  return static_cast<float>(c);
}

inline float tanimoto_kernel(const std::uint64_t* a, const std::uint64_t* b, std::size_t words) noexcept {
  std::uint64_t both = 0, either = 0;
  for (std::size_t w = 0; w < words; ++w) {
    both += static_cast<std::uint64_t>(std::popcount(a[w] & b[w]));
    either += static_cast<std::uint64_t>(std::popcount(a[w] | b[w]));
  }
  return either == 0 ? 0.0f
                     : static_cast<float>(1.0 - static_cast<double>(both) / static_cast<double>(either));
}

/// <a, b> over padded rows, 16 independent lanes (vectorised at the baseline ISA).
inline float product_dot(const float* __restrict a, const float* __restrict b, std::size_t stride) noexcept {
  float acc[16] = {};
  for (std::size_t i = 0; i < stride; i += 16)
    for (std::size_t k = 0; k < 16; ++k) acc[k] += a[i + k] * b[i + k];
  float s = 0;
  for (const float v : acc) s += v;
  return s;
}

inline float inner_product_kernel(const float* a, const float* b, std::size_t stride) noexcept {
  return std::max(0.0f, 1.0f - product_dot(a, b, stride));
}

/// sqrt(x) for x >= 0 without the errno check that std::sqrt keeps (GCC 12
/// tests x < 0 before every sqrtss, even right after a range check of its own).
inline float sqrt_nonnegative(float x) noexcept {
#if defined(__SSE__)
  return _mm_cvtss_f32(_mm_sqrt_ss(_mm_set1_ps(x)));  // set1: _mm_set_ss goes through a GPR
#else
  return std::sqrt(x);
#endif
}

/// angular_kernel for chords whose float32 squares may have underflowed: in
/// double. Pure (reads the rows only), so that callers' loops keep their
/// hoisted loads although the call is there.
[[gnu::noinline, gnu::cold, gnu::pure]] inline float angular_wide(const float* a, const float* b,
                                                                  std::size_t stride) noexcept {
  const double chord = std::sqrt(squared_l2_wide(a, b, stride));
  return static_cast<float>(2.0 * std::asin(std::min(1.0, chord * 0.5)) * std::numbers::inv_pi);
}

/// Rows are unit length: the angle over pi, computed as 2 asin(|a - b| / 2),
/// which is accurate near 0 (equal rows give exactly 0), unlike acos(<a, b>).
/// A chord so short that float32 squares may underflow (squared chord below
/// 2^-100, see dense_kernels.hpp's squares_in_range) is measured in double.
inline float angular_kernel(const float* __restrict a, const float* __restrict b,
                            std::size_t stride) noexcept {
  float acc[16] = {};
  for (std::size_t i = 0; i < stride; i += 16)
    for (std::size_t k = 0; k < 16; ++k) acc[k] += (a[i + k] - b[i + k]) * (a[i + k] - b[i + k]);
  float s = 0;
  for (const float v : acc) s += v;
  if (!(s >= 0x1p-100f)) [[unlikely]]
    return angular_wide(a, b, stride);
  const float half_chord = std::min(1.0f, sqrt_nonnegative(s) * 0.5f);
  return 2.0f * std::asin(half_chord) * std::numbers::inv_pi_v<float>;
}

}  // namespace chutoro::detail
