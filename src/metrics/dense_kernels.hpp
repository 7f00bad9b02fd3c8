// chutoro — portable reference dense kernels over padded rows (zero tails make
// padding harmless), and the metric formulas on top of a raw kernel value.
// The fast path is dense_simd.hpp (Highway); these scalar loops are the
// reference the SIMD targets are tested against. Each takes two rows of
// `stride` floats (stride a multiple of 16). Thread safe, noexcept.
#pragma once

#include <algorithm>
#include <chutoro/data_source.hpp>
#include <cmath>
#include <cstddef>

#include "metrics/dense_simd.hpp"

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

/// The raw kernel a metric uses: squared L2 (euclidean), L1 (manhattan), dot (cosine).
inline dense_kernel kernel_for(dense_metric m, const dense_kernel_table& t) noexcept {
  switch (m) {
    case dense_metric::cosine:
      return t.dot;
    case dense_metric::manhattan:
      return t.l1;
    default:
      return t.squared_l2;
  }
}

/// The metric's distance from its raw kernel value (cosine rows are pre-normalised).
inline float finish_distance(dense_metric m, float raw) noexcept {
  switch (m) {
    case dense_metric::cosine:
      return std::max(0.0f, 1.0f - raw);
    case dense_metric::manhattan:
      return raw;
    default:
      return std::sqrt(raw);
  }
}

/// The scalar reference kernels as a table (target "reference").
inline dense_kernel_table reference_kernels() {
  return {[](const float* a, const float* b, std::size_t s) { return squared_l2(a, b, s); },
          [](const float* a, const float* b, std::size_t s) { return l1(a, b, s); },
          [](const float* a, const float* b, std::size_t s) { return dot(a, b, s); }, "reference"};
}

}  // namespace chutoro::detail
