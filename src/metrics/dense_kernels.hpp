// chutoro — inline dense kernels over padded rows (zero tails make padding harmless).
// Each takes two rows of `stride` floats (stride a multiple of 16). Thread safe, noexcept.
#pragma once

#include <algorithm>
#include <chutoro/data_source.hpp>
#include <cmath>
#include <cstddef>

namespace chutoro::detail {

inline float squared_l2(const float* __restrict a, const float* __restrict b, std::size_t stride) noexcept {
  float acc[16] = {};
  for (std::size_t i = 0; i < stride; i += 16)
    for (std::size_t k = 0; k < 16; ++k) {
      const float d = a[i + k] - b[i + k];
      acc[k] += d * d;
    }
  float s = 0;
  for (float v : acc) s += v;
  return s;
}

inline float l1(const float* __restrict a, const float* __restrict b, std::size_t stride) noexcept {
  float acc[16] = {};
  for (std::size_t i = 0; i < stride; i += 16)
    for (std::size_t k = 0; k < 16; ++k) acc[k] += std::fabs(a[i + k] - b[i + k]);
  float s = 0;
  for (float v : acc) s += v;
  return s;
}

inline float dot(const float* __restrict a, const float* __restrict b, std::size_t stride) noexcept {
  float acc[16] = {};
  for (std::size_t i = 0; i < stride; i += 16)
    for (std::size_t k = 0; k < 16; ++k) acc[k] += a[i + k] * b[i + k];
  float s = 0;
  for (float v : acc) s += v;
  return s;
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
