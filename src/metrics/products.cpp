// chutoro — product_source (inner_product, angular over dense float32 rows).
#include <algorithm>
#include <chutoro/error.hpp>
#include <chutoro/metric_table.hpp>
#include <chutoro/metrics.hpp>
#include <cmath>
#include <cstdio>
#include <string>

#include "metrics/growth.hpp"
#include "metrics/set_bit_kernels.hpp"

namespace chutoro {

product_metric parse_product_metric(std::string_view name) {
  const metric_info* m = find_builtin_metric(name);
  if (m == nullptr || m->kind != source_kind::products)
    throw error(error_code::invalid_argument, "metric: unknown product metric '" + std::string(name) +
                                                  "' (expected inner_product or angular)");
  return static_cast<product_metric>(m->value);
}

std::string_view to_string(product_metric m) noexcept {
  return m == product_metric::angular ? "angular" : "inner_product";
}

product_source::product_source(std::span<const float> values, std::size_t n, std::size_t dim,
                               product_metric metric)
    : data_source(source_kind::products, builtin_key{}),
      n_(n),
      dim_(dim),
      stride_((dim + 15) / 16 * 16),
      metric_(metric) {
  load_rows(values, true);
}

product_source::product_source(std::span<const float> values, std::size_t n, std::size_t dim,
                               product_metric metric, rows_normalized_t)
    : data_source(source_kind::products, builtin_key{}),
      n_(n),
      dim_(dim),
      stride_((dim + 15) / 16 * 16),
      metric_(metric) {
  load_rows(values, false);
}

void product_source::load_rows(std::span<const float> values, bool normalise) {
  const std::size_t n = n_, dim = dim_;
  expects(n > 0, error_code::invalid_argument, "product_source: no rows (empty input)");
  expects(dim > 0, error_code::invalid_argument, "product_source: rows have no columns (dim = 0)");
  expects(values.size() == n * dim, error_code::invalid_argument,
          "product_source: " + std::to_string(values.size()) + " values for " + std::to_string(n) +
              " rows x " + std::to_string(dim) + " columns");
  data_.assign(n * stride_, 0.0f);
  for (std::size_t i = 0; i < n; ++i) {
    double norm2 = 0;
    for (std::size_t k = 0; k < dim; ++k) {
      const float v = values[i * dim + k];
      if (!std::isfinite(v)) {
        throw error(error_code::invalid_argument,
                    "product_source: row " + std::to_string(i) + ", column " + std::to_string(k) + " is " +
                        (std::isnan(v) ? "NaN" : "infinite") + " (0-based row, column)");
      }
      data_[i * stride_ + k] = v;
      norm2 += double(v) * v;  // double: squares of any finite float32 fit
    }
    // |<x, y>| <= |x| |y| <= the larger squared norm: with every squared norm <= 2^127, no float32
    // partial sum of a dot product overflows and 1 - <x, y> <= 1 + 2^127 fits float32.
    if (metric_ == product_metric::inner_product && norm2 > 0x1p127) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.3g", norm2);
      throw error(error_code::invalid_argument,
                  "product_source: row " + std::to_string(i) + " (0-based) has squared norm " + buf +
                      ": inner_product distances 1 - <x, y> of such rows can pass float32's range (chutoro "
                      "allows squared norms up to 2^127 = 1.7e+38); inner_product is not scale invariant "
                      "(pairs with <x, y> >= 1 all tie at 0): scale the rows down, or use angular or cosine");
    }
    if (metric_ == product_metric::angular) {
      expects(norm2 > 0, error_code::invalid_argument,
              "product_source: row " + std::to_string(i) +
                  " is all zeros; angular distance is undefined (0-based row)");
      if (normalise) {
        const double inv = 1.0 / std::sqrt(norm2);
        for (std::size_t k = 0; k < dim; ++k)
          data_[i * stride_ + k] = static_cast<float>(data_[i * stride_ + k] * inv);
      } else {
        expects(std::fabs(norm2 - 1.0) <= 1e-3, error_code::invalid_argument,
                "product_source: row " + std::to_string(i) + " is not normalised (squared norm " +
                    std::to_string(norm2) +
                    "); rows_normalized needs the unit rows an angular source stores (0-based row)");
      }
    }
  }
}

float product_source::distance(std::size_t i, std::size_t j) const {
  return metric_ == product_metric::angular ? detail::angular_kernel(row(i), row(j), stride_)
                                            : detail::inner_product_kernel(row(i), row(j), stride_);
}

void product_source::check_compatible(const data_source& other) const {
  const auto* o =
      other.kind() == source_kind::products ? static_cast<const product_source*>(&other) : nullptr;
  detail::expect_compatible(*this, other, o != nullptr, o && o->metric_ == metric_, o && o->dim_ == dim_);
}

float product_source::cross_distance(const data_source& other, std::size_t i, std::size_t j) const {
  const auto& o = static_cast<const product_source&>(other);
  return metric_ == product_metric::angular ? detail::angular_kernel(o.row(i), row(j), stride_)
                                            : detail::inner_product_kernel(o.row(i), row(j), stride_);
}

void product_source::append(const data_source& other) {
  check_compatible(other);
  const auto& o = static_cast<const product_source&>(other);
  const std::size_t m = o.n_, count = m * stride_, base = data_.size();  // before growing: o may be *this
  // Reserving is the only step that can throw, and it changes no element (strong guarantee).
  detail::reserve_geometric(data_, base + count);
  data_.resize(base + count);
  std::copy_n(o.data_.data(), count, data_.data() + base);  // disjoint even when o is *this
  n_ += m;
}

void product_source::truncate(std::size_t n) noexcept {
  if (n >= n_) return;
  n_ = n;
  data_.resize(n * stride_);  // shrinking: no allocation
}

}  // namespace chutoro
