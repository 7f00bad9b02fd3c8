// chutoro — the two tiers of distances (usearch style): built-in sources are
// unwrapped into concrete callables the HNSW and the exact oracle are
// templated on, so kernels inline; any other data_source goes through its
// virtual distance(), checked for NaN and negative values.
#pragma once

#include <chutoro/data_source.hpp>
#include <chutoro/error.hpp>
#include <cmath>
#include <cstdint>
#include <string>

#include "metrics/dense_kernels.hpp"
#include "metrics/set_bit_kernels.hpp"

namespace chutoro::detail {

template <dense_metric M>
struct dense_distance_fn {
  const dense_source* src;
  dense_kernel kernel = kernel_for(M, dense_kernels());
  float operator()(std::uint32_t a, std::uint32_t b) const noexcept {
    return finish_distance(M, kernel(src->row(a), src->row(b), src->stride()));
  }
  /// Hints the cache to load item a's row.
  void prefetch(std::uint32_t a) const noexcept {
    const char* p = reinterpret_cast<const char*>(src->row(a));
    const std::size_t bytes = src->stride() * sizeof(float);
    for (std::size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off);
  }
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
  const bit_source* src;
  float operator()(std::uint32_t a, std::uint32_t b) const noexcept {
    if constexpr (M == bit_metric::tanimoto) return tanimoto_kernel(src->row(a), src->row(b), src->words());
    return hamming_kernel(src->row(a), src->row(b), src->words());
  }
};

template <product_metric M>
struct product_distance_fn {
  const product_source* src;
  float operator()(std::uint32_t a, std::uint32_t b) const noexcept {
    if constexpr (M == product_metric::angular)
      return angular_kernel(src->row(a), src->row(b), src->stride());
    return inner_product_kernel(src->row(a), src->row(b), src->stride());
  }
};

struct checked_distance_fn {
  const data_source* src;
  float operator()(std::uint32_t a, std::uint32_t b) const {
    const float d = src->distance(a, b);
    if (!(d >= 0.0f))  // also catches NaN
      throw error(error_code::invalid_argument,
                  "data source '" + src->name() + "': distance(" + std::to_string(a) + ", " +
                      std::to_string(b) + ") = " + std::to_string(d) + " is not a non-negative number");
    return d;
  }
};

/// Calls f(distance_callable) with the fastest callable for `data`.
template <class F>
decltype(auto) with_distance(const data_source& data, F&& f) {
  if (const auto* d = dynamic_cast<const dense_source*>(&data)) {
    switch (d->metric()) {
      case dense_metric::cosine:
        return f(dense_distance_fn<dense_metric::cosine>{d});
      case dense_metric::manhattan:
        return f(dense_distance_fn<dense_metric::manhattan>{d});
      default:
        return f(dense_distance_fn<dense_metric::euclidean>{d});
    }
  }
  if (const auto* s = dynamic_cast<const string_source*>(&data)) return f(string_distance_fn{s});
  if (const auto* s = dynamic_cast<const set_source*>(&data)) return f(set_distance_fn{s});
  if (const auto* b = dynamic_cast<const bit_source*>(&data)) {
    if (b->metric() == bit_metric::tanimoto) return f(bit_distance_fn<bit_metric::tanimoto>{b});
    return f(bit_distance_fn<bit_metric::hamming>{b});
  }
  if (const auto* p = dynamic_cast<const product_source*>(&data)) {
    if (p->metric() == product_metric::angular) return f(product_distance_fn<product_metric::angular>{p});
    return f(product_distance_fn<product_metric::inner_product>{p});
  }
  return f(checked_distance_fn{&data});
}

}  // namespace chutoro::detail
