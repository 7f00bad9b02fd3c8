// chutoro — inline dense kernels over padded rows (zero tails make padding harmless).
// Each takes two rows of `stride` floats (stride a multiple of 16). Thread safe, noexcept.
#pragma once

#include <algorithm>
#include <chutoro/data_source.hpp>
#include <cmath>
#include <cstddef>

namespace chutoro::detail {

/// sum_k term(a[k], b[k]) over padded rows, in 16 independent lanes so the
/// compiler vectorises it at the baseline ISA.
template <class Term>
inline float lane_sum(const float* __restrict a, const float* __restrict b, std::size_t stride,
                      Term term) noexcept {
  float acc[16] = {};
  for (std::size_t i = 0; i < stride; i += 16)
    for (std::size_t k = 0; k < 16; ++k) acc[k] += term(a[i + k], b[i + k]);
  float s = 0;
  for (float v : acc) s += v;
  return s;
}

inline float squared_l2(const float* a, const float* b, std::size_t stride) noexcept {
  return lane_sum(a, b, stride, [](float x, float y) { return (x - y) * (x - y); });
}

inline float l1(const float* a, const float* b, std::size_t stride) noexcept {
  return lane_sum(a, b, stride, [](float x, float y) { return std::fabs(x - y); });
}

inline float dot(const float* a, const float* b, std::size_t stride) noexcept {
  return lane_sum(a, b, stride, [](float x, float y) { return x * y; });
}

/// Distance between two rows under `m` (cosine rows are pre-normalised).
inline float dense_distance(dense_metric m, const float* a, const float* b, std::size_t stride) noexcept {
  switch (m) {
    case dense_metric::cosine:
      return std::max(0.0f, 1.0f - dot(a, b, stride));
    case dense_metric::manhattan:
      return l1(a, b, stride);
    default:
      return std::sqrt(squared_l2(a, b, stride));
  }
}

}  // namespace chutoro::detail
