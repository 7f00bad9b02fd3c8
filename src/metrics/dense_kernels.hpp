// chutoro — portable reference dense kernels over padded rows (zero tails make
// padding harmless), and the metric formulas on top of a raw kernel value.
// The fast path is dense_simd.hpp (Highway); these scalar loops are the
// reference the SIMD targets are tested against. Each takes two rows of
// `stride` floats (stride a multiple of 16). Thread safe, noexcept.
//
// Extreme magnitudes (docs/metrics.md, "Extreme scales"): a float32 sum of
// squares overflows to inf once |a_k - b_k| passes ~1.8e19 and underflows to 0
// below ~1e-23. The euclidean kernel l2 keeps the float32 sum and recomputes in
// double the rare pairs whose float32 sum falls outside [2^-100, FLT_MAX].
#pragma once

#include <algorithm>
#include <bit>
#include <chutoro/data_source.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

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

/// sum_k (a[k] - b[k])^2 in double: finite for any finite float32 rows, and
/// no term underflows (the smallest nonzero square, 2^-298, is a normal double).
inline double squared_l2_wide(const float* a, const float* b, std::size_t stride) noexcept {
  double acc[4] = {};
  for (std::size_t i = 0; i < stride; i += 4)
    for (std::size_t k = 0; k < 4; ++k) {
      const double d = static_cast<double>(a[i + k]) - static_cast<double>(b[i + k]);
      acc[k] += d * d;
    }
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

/// Whether a float32 sum of squares (of finite values) is right to float32
/// rounding. Terms are >= 0, so an overflow stays inf to the end (never NaN);
/// an underflowed term is off by at most 2^-149, which is at most 2^-49 of a
/// sum >= 2^-100 (stride * 2^-49 relative in all: far below float32's 2^-24).
/// Below 2^-100, including 0, the sum is not trusted.
inline bool squares_in_range(float sum) noexcept {
  // One unsigned compare on the bits: for sum >= 0 they grow with the value
  // (+0 wraps around to a large number; inf and NaN lie above FLT_MAX's bits).
  constexpr std::uint32_t lo = std::bit_cast<std::uint32_t>(0x1p-100f);
  constexpr std::uint32_t hi = std::bit_cast<std::uint32_t>(std::numeric_limits<float>::max());
  return std::bit_cast<std::uint32_t>(sum) - lo <= hi - lo;
}

/// The euclidean distance: sqrt of the float32 sum of squares, or of the
/// double one where squares_in_range rejects the float32 sum. Finite for any
/// finite rows whose distance fits float32 (dense_source refuses rows whose
/// distances could pass 2^127). Symmetric bit for bit.
inline float l2(const float* a, const float* b, std::size_t stride) noexcept {
  const float s = squared_l2(a, b, stride);
  if (squares_in_range(s)) [[likely]]
    return std::sqrt(s);
  return static_cast<float>(std::sqrt(squared_l2_wide(a, b, stride)));
}

// ---- the scipy-style metrics (scalar, in double, rounded once to float32) ----
// Zero padding is harmless: a (0, 0) term adds 0 to every sum and max below.

/// max_k |a_k - b_k| (chebyshev).
inline float chebyshev_kernel(const float* a, const float* b, std::size_t stride) noexcept {
  float m = 0;
  for (std::size_t k = 0; k < stride; ++k) m = std::max(m, std::fabs(a[k] - b[k]));
  return m;
}

/// (sum_k |a_k - b_k|^p)^(1/p) (minkowski, p > 0), scaled by the largest
/// difference so no power overflows or underflows in double.
inline float minkowski_kernel(const float* a, const float* b, std::size_t stride, double p) noexcept {
  double m = 0;
  for (std::size_t k = 0; k < stride; ++k)
    m = std::max(m, std::fabs(static_cast<double>(a[k]) - static_cast<double>(b[k])));
  if (m == 0) return 0;
  double s = 0;
  for (std::size_t k = 0; k < stride; ++k) {
    const double d = std::fabs(static_cast<double>(a[k]) - static_cast<double>(b[k]));
    if (d != 0) s += std::pow(d / m, p);
  }
  return static_cast<float>(m * std::pow(s, 1.0 / p));
}

/// sum_k |a_k - b_k| / (|a_k| + |b_k|), a 0/0 term counting 0 (canberra, as scipy).
inline float canberra_kernel(const float* a, const float* b, std::size_t stride) noexcept {
  double s = 0;
  for (std::size_t k = 0; k < stride; ++k) {
    const double x = a[k], y = b[k];
    const double den = std::fabs(x) + std::fabs(y);
    if (den > 0) s += std::fabs(x - y) / den;
  }
  return static_cast<float>(s);
}

/// sum_k |a_k - b_k| / sum_k |a_k + b_k| (braycurtis, as scipy); 0 when the
/// denominator is 0 (scipy: NaN), so that d(0, 0) = 0 as a dissimilarity needs.
inline float braycurtis_kernel(const float* a, const float* b, std::size_t stride) noexcept {
  double num = 0, den = 0;
  for (std::size_t k = 0; k < stride; ++k) {
    const double x = a[k], y = b[k];
    num += std::fabs(x - y);
    den += std::fabs(x + y);
  }
  return den > 0 ? static_cast<float>(num / den) : 0.0f;
}

/// The raw kernel a metric uses: L2 (euclidean, and seuclidean / mahalanobis
/// over their transformed rows: the distance itself, right at any scale), L1
/// (manhattan), dot (cosine). Only for uses_kernel_table(m).
inline dense_kernel kernel_for(dense_metric m, const dense_kernel_table& t) noexcept {
  switch (m) {
    case dense_metric::cosine:
      return t.dot;
    case dense_metric::manhattan:
      return t.l1;
    default:
      return t.l2;
  }
}

/// kernel_for's one-row-against-many form (dense_simd.hpp, rows_kernel): the same values, bit for bit.
inline rows_kernel rows_kernel_for(dense_metric m, const dense_kernel_table& t) noexcept {
  switch (m) {
    case dense_metric::cosine:
      return t.dot_rows;
    case dense_metric::manhattan:
      return t.l1_rows;
    default:
      return t.l2_rows;
  }
}

/// The metric's distance from its raw kernel value (cosine rows are pre-normalised).
/// Manhattan needs no extreme-scale fallback (|a_k - b_k| is exact near 0, and
/// dense_source bounds the sum below 2^127), nor does cosine (unit rows).
inline float finish_distance(dense_metric m, float raw) noexcept {
  return m == dense_metric::cosine ? std::max(0.0f, 1.0f - raw) : raw;
}

/// d(a, b) under the scipy-style metrics without a table kernel (chebyshev,
/// minkowski with order p, canberra, braycurtis); 0 for any other metric.
inline float scipy_dense_distance(dense_metric m, const float* a, const float* b, std::size_t stride,
                                  double p) noexcept {
  switch (m) {
    case dense_metric::chebyshev:
      return chebyshev_kernel(a, b, stride);
    case dense_metric::minkowski:
      return minkowski_kernel(a, b, stride, p);
    case dense_metric::canberra:
      return canberra_kernel(a, b, stride);
    case dense_metric::braycurtis:
      return braycurtis_kernel(a, b, stride);
    default:
      return 0;
  }
}

/// Whether m is computed through the kernel table (kernel_for + finish_distance):
/// euclidean, cosine, manhattan, and seuclidean / mahalanobis over their transformed rows.
constexpr bool uses_kernel_table(dense_metric m) noexcept {
  return m == dense_metric::euclidean || m == dense_metric::cosine || m == dense_metric::manhattan ||
         m == dense_metric::seuclidean || m == dense_metric::mahalanobis;
}

/// minkowski's p of a dense source (2 for any other metric).
inline double minkowski_p(const dense_source& s) noexcept {
  return s.metric() == dense_metric::minkowski && !s.params().empty() ? s.params()[0] : 2.0;
}

/// d(a, b) of a dense source's rows under its metric (the one formula
/// distance(), cross_distance() and the pipeline's callables agree on).
inline float dense_row_distance(const dense_source& s, const float* a, const float* b) {
  const dense_metric m = s.metric();
  if (uses_kernel_table(m)) return finish_distance(m, kernel_for(m, dense_kernels())(a, b, s.stride()));
  return scipy_dense_distance(m, a, b, s.stride(), minkowski_p(s));
}

/// The scalar reference kernels as a table (target "reference").
inline dense_kernel_table reference_kernels() {
  return {[](const float* a, const float* b, std::size_t s) { return squared_l2(a, b, s); },
          [](const float* a, const float* b, std::size_t s) { return l1(a, b, s); },
          [](const float* a, const float* b, std::size_t s) { return dot(a, b, s); },
          [](const float* a, const float* b, std::size_t s) { return l2(a, b, s); },
          [](const float* a, const float* b, std::size_t s) { return squared_l2_wide(a, b, s); },
          "reference",
          [](const float* q, const float* base, std::size_t s, const std::uint32_t* ids, std::size_t n,
             float* out) {
            for (std::size_t k = 0; k < n; ++k) out[k] = l1(q, base + std::size_t{ids[k]} * s, s);
          },
          [](const float* q, const float* base, std::size_t s, const std::uint32_t* ids, std::size_t n,
             float* out) {
            for (std::size_t k = 0; k < n; ++k) out[k] = dot(q, base + std::size_t{ids[k]} * s, s);
          },
          [](const float* q, const float* base, std::size_t s, const std::uint32_t* ids, std::size_t n,
             float* out) {
            for (std::size_t k = 0; k < n; ++k) out[k] = l2(q, base + std::size_t{ids[k]} * s, s);
          }};
}

}  // namespace chutoro::detail
