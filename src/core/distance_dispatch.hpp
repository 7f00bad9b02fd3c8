// chutoro — the two tiers of distances (usearch style): built-in sources are
// unwrapped into concrete callables the HNSW and the exact oracle are
// templated on, so kernels inline; any other data_source goes through its
// virtual distance(), checked for NaN and negative values.
//
// A built-in source is recognised by its kind (visit_source, metrics.hpp: one
// switch, no dynamic_cast). The row-major kinds (dense, bits, products) are
// read through their matrix_view (data_source::matrix()): the callables hold
// the rows' base pointer and stride, which is what a distance tile or a
// device upload reads too.
#pragma once

#include <chutoro/data_source.hpp>
#include <chutoro/error.hpp>
#include <chutoro/metrics.hpp>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "metrics/dense_kernels.hpp"
#include "metrics/set_bit_kernels.hpp"
#include "metrics/sparse_kernels.hpp"

namespace chutoro::detail {

/// The rows of a float32 matrix_view (dense and product sources): row i is
/// `stride` floats at base + i * stride, zero-padded beyond the dimension.
struct float_rows {
  const float* base;
  std::size_t stride;
  explicit float_rows(const matrix_view& v) noexcept : base(v.row<float>(0)), stride(v.stride) {}
  [[nodiscard]] const float* row(std::uint32_t i) const noexcept { return base + std::size_t{i} * stride; }
  /// Hints the cache to load row i.
  void prefetch(std::uint32_t i) const noexcept {
    const char* p = reinterpret_cast<const char*>(row(i));
    const std::size_t bytes = stride * sizeof(float);
    for (std::size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off);
  }
};

template <dense_metric M>
struct dense_distance_fn {
  float_rows rows;
  dense_kernel kernel = kernel_for(M, dense_kernels());
  rows_kernel many = rows_kernel_for(M, dense_kernels());
  float operator()(std::uint32_t a, std::uint32_t b) const noexcept {
    return finish_distance(M, kernel(rows.row(a), rows.row(b), rows.stride));
  }
  /// out[k] = (*this)(q, xs[k]) bit for bit, through the blocked kernel (one
  /// query against four rows per pass).
  void batch(std::uint32_t q, std::span<const std::uint32_t> xs, float* out) const noexcept {
    many(rows.row(q), rows.base, rows.stride, xs.data(), xs.size(), out);
    if constexpr (M == dense_metric::cosine)
      for (std::size_t k = 0; k < xs.size(); ++k) out[k] = finish_distance(M, out[k]);
  }
  void prefetch(std::uint32_t a) const noexcept { rows.prefetch(a); }
};

/// The scipy-style dense metrics without a kernel table entry (chebyshev,
/// minkowski, canberra, braycurtis) share one callable with a run-time
/// switch, so the HNSW and the oracle are instantiated once for all of them.
struct scipy_dense_distance_fn {
  float_rows rows;
  dense_metric metric;
  double p;  // minkowski's order
  float operator()(std::uint32_t a, std::uint32_t b) const noexcept {
    return scipy_dense_distance(metric, rows.row(a), rows.row(b), rows.stride, p);
  }
  void prefetch(std::uint32_t a) const noexcept { rows.prefetch(a); }
};

struct string_distance_fn {
  const string_source* src;
  float operator()(std::uint32_t a, std::uint32_t b) const noexcept {
    return static_cast<float>(levenshtein(src->item(a), src->item(b)));
  }
};

struct set_distance_fn {
  const set_source* src;
  float operator()(std::uint32_t a, std::uint32_t b) const noexcept {
    return jaccard_kernel(src->item(a), src->item(b));
  }
};

template <bit_metric M>
struct bit_distance_fn {
  const std::uint64_t* base;
  std::size_t words;  // = the view's stride and cols
  float operator()(std::uint32_t a, std::uint32_t b) const noexcept {
    const std::uint64_t* x = base + std::size_t{a} * words;
    const std::uint64_t* y = base + std::size_t{b} * words;
    if constexpr (M == bit_metric::tanimoto) return tanimoto_kernel(x, y, words);
    return hamming_kernel(x, y, words);
  }
};

template <product_metric M>
struct product_distance_fn {
  float_rows rows;
  float operator()(std::uint32_t a, std::uint32_t b) const noexcept {
    if constexpr (M == product_metric::angular) return angular_kernel(rows.row(a), rows.row(b), rows.stride);
    return inner_product_kernel(rows.row(a), rows.row(b), rows.stride);
  }
};

/// Sparse rows: one callable for the four metrics (a run-time switch, as
/// scipy_dense_distance_fn), so the HNSW and the oracle are instantiated once.
struct sparse_distance_fn {
  const sparse_source* src;
  sparse_metric metric;
  float operator()(std::uint32_t a, std::uint32_t b) const noexcept {
    return sparse_distance(metric, src->row(a), src->row(b));
  }
};

struct checked_distance_fn {
  const data_source* src;
  float operator()(std::uint32_t a, std::uint32_t b) const {
    const float d = src->distance(a, b);
    if (!(d >= 0.0f)) fail(a, b, d, "");  // also catches NaN
    return d;
  }
  /// out[k] = d(q, xs[k]) through one data_source::distance_batch call (a
  /// plugin with CHUTORO_HAS_DISTANCE_BATCH, a vectorised Python metric), checked alike.
  void batch(std::uint32_t q, std::span<const std::uint32_t> xs, float* out) const {
    thread_local std::vector<index_pair> pairs;
    pairs.resize(xs.size());
    for (std::size_t k = 0; k < xs.size(); ++k) pairs[k] = {q, xs[k]};
    src->distance_batch(pairs, std::span<float>(out, xs.size()));
    for (std::size_t k = 0; k < xs.size(); ++k)
      if (!(out[k] >= 0.0f)) fail(q, xs[k], out[k], " (returned by distance_batch)");
  }
  [[noreturn]] void fail(std::uint32_t a, std::uint32_t b, float d, const char* from) const {
    throw error(error_code::invalid_argument,
                "data source '" + src->name() + "': distance(" + std::to_string(a) + ", " +
                    std::to_string(b) + ") = " + std::to_string(d) + " is not a non-negative number" + from);
  }
};

/// Calls f(distance_callable) with the fastest callable for `data`, chosen
/// once per call (per stage), never per pair.
template <class F>
decltype(auto) with_distance(const data_source& data, F&& f) {
  return visit_source(data, [&f](const auto& s) -> decltype(auto) {
    using S = std::remove_cvref_t<decltype(s)>;
    if constexpr (std::is_same_v<S, dense_source>) {
      const float_rows rows(*s.matrix());
      switch (s.metric()) {
        case dense_metric::cosine:
          return f(dense_distance_fn<dense_metric::cosine>{rows});
        case dense_metric::manhattan:
          return f(dense_distance_fn<dense_metric::manhattan>{rows});
        case dense_metric::chebyshev:
        case dense_metric::minkowski:
        case dense_metric::canberra:
        case dense_metric::braycurtis:
          return f(scipy_dense_distance_fn{rows, s.metric(), minkowski_p(s)});
        default:  // euclidean, and seuclidean / mahalanobis over their transformed rows
          return f(dense_distance_fn<dense_metric::euclidean>{rows});
      }
    } else if constexpr (std::is_same_v<S, string_source>) {
      return f(string_distance_fn{&s});
    } else if constexpr (std::is_same_v<S, set_source>) {
      return f(set_distance_fn{&s});
    } else if constexpr (std::is_same_v<S, bit_source>) {
      const matrix_view v = *s.matrix();
      if (s.metric() == bit_metric::tanimoto)
        return f(bit_distance_fn<bit_metric::tanimoto>{v.row<std::uint64_t>(0), v.stride});
      return f(bit_distance_fn<bit_metric::hamming>{v.row<std::uint64_t>(0), v.stride});
    } else if constexpr (std::is_same_v<S, product_source>) {
      const float_rows rows(*s.matrix());
      if (s.metric() == product_metric::angular) return f(product_distance_fn<product_metric::angular>{rows});
      return f(product_distance_fn<product_metric::inner_product>{rows});
    } else if constexpr (std::is_same_v<S, sparse_source>) {
      return f(sparse_distance_fn{&s, s.metric()});
    } else {
      return f(checked_distance_fn{&s});
    }
  });
}

}  // namespace chutoro::detail
