// chutoro — the sparse_source kernels: merge joins of two rows' sorted column
// lists (metrics.hpp, sparse_row), summed in double. Inline: the HNSW and the
// exact oracle call them through distance_dispatch.hpp.
#pragma once

#include <algorithm>
#include <chutoro/metrics.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace chutoro::detail {

/// <x, y> over the columns both rows hold. O(nnz(x) + nnz(y)).
inline double sparse_dot(const sparse_row& x, const sparse_row& y) noexcept {
  double s = 0;
  std::size_t i = 0, j = 0;
  while (i < x.nnz && j < y.nnz) {
    const std::uint32_t a = x.indices[i], b = y.indices[j];
    if (a == b) {
      s += double(x.values[i]) * y.values[j];
      ++i, ++j;
    } else if (a < b) {
      ++i;
    } else {
      ++j;
    }
  }
  return s;
}

/// sum_k f(x_k - y_k) over the union of the rows' columns, f = square (Square) or |.|.
template <bool Square>
inline double sparse_difference(const sparse_row& x, const sparse_row& y) noexcept {
  auto f = [](double v) { return Square ? v * v : std::fabs(v); };
  double s = 0;
  std::size_t i = 0, j = 0;
  while (i < x.nnz && j < y.nnz) {
    const std::uint32_t a = x.indices[i], b = y.indices[j];
    if (a == b) {
      s += f(double(x.values[i]) - y.values[j]);
      ++i, ++j;
    } else if (a < b) {
      s += f(x.values[i++]);
    } else {
      s += f(y.values[j++]);
    }
  }
  for (; i < x.nnz; ++i) s += f(x.values[i]);
  for (; j < y.nnz; ++j) s += f(y.values[j]);
  return s;
}

/// d(x, y) under `m` (cosine: x, y have unit norm). The sparse_source bounds keep it in float32.
inline float sparse_distance(sparse_metric m, const sparse_row& x, const sparse_row& y) noexcept {
  switch (m) {
    case sparse_metric::euclidean:
      return static_cast<float>(std::sqrt(sparse_difference<true>(x, y)));
    case sparse_metric::manhattan:
      return static_cast<float>(sparse_difference<false>(x, y));
    case sparse_metric::cosine:
    case sparse_metric::inner_product:
      break;
  }
  return std::max(0.0f, static_cast<float>(1.0 - sparse_dot(x, y)));
}

}  // namespace chutoro::detail
