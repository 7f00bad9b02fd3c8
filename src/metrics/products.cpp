// chutoro — product_source (inner_product, angular over dense float32 rows).
#include <chutoro/error.hpp>
#include <chutoro/metrics.hpp>
#include <cmath>
#include <string>

#include "metrics/set_bit_kernels.hpp"

namespace chutoro {

product_metric parse_product_metric(std::string_view name) {
  if (name == "inner_product") return product_metric::inner_product;
  if (name == "angular") return product_metric::angular;
  throw error(error_code::invalid_argument, "metric: unknown product metric '" + std::string(name) +
                                                "' (expected inner_product or angular)");
}

std::string_view to_string(product_metric m) noexcept {
  return m == product_metric::angular ? "angular" : "inner_product";
}

product_source::product_source(std::span<const float> values, std::size_t n, std::size_t dim,
                               product_metric metric)
    : n_(n), dim_(dim), stride_((dim + 15) / 16 * 16), metric_(metric) {
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
        throw error(error_code::invalid_argument, "product_source: row " + std::to_string(i) + ", column " +
                                                      std::to_string(k) + " is " +
                                                      (std::isnan(v) ? "NaN" : "infinite"));
      }
      data_[i * stride_ + k] = v;
      norm2 += double(v) * v;
    }
    if (metric == product_metric::angular) {
      expects(norm2 > 0, error_code::invalid_argument,
              "product_source: row " + std::to_string(i) + " is all zeros; angular distance is undefined");
      const double inv = 1.0 / std::sqrt(norm2);
      for (std::size_t k = 0; k < dim; ++k)
        data_[i * stride_ + k] = static_cast<float>(data_[i * stride_ + k] * inv);
    }
  }
}

float product_source::distance(std::size_t i, std::size_t j) const {
  return metric_ == product_metric::angular ? detail::angular_kernel(row(i), row(j), stride_)
                                            : detail::inner_product_kernel(row(i), row(j), stride_);
}

}  // namespace chutoro
