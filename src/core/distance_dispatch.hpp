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

namespace chutoro::detail {

template <dense_metric M>
struct dense_distance_fn {
  const dense_source* src;
  float operator()(std::uint32_t a, std::uint32_t b) const noexcept {
    return dense_distance(M, src->row(a), src->row(b), src->stride());
  }
};

struct string_distance_fn {
  const string_source* src;
  float operator()(std::uint32_t a, std::uint32_t b) const noexcept {
    return static_cast<float>(levenshtein(src->item(a), src->item(b)));
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
  return f(checked_distance_fn{&data});
}

}  // namespace chutoro::detail
