// Dense float32 sources. The kernels are chosen at run time (dense_simd.cpp).
#include <chutoro/data_source.hpp>
#include <chutoro/error.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "metrics/dense_kernels.hpp"

namespace chutoro {

void data_source::distance_batch(std::span<const index_pair> pairs, std::span<float> out) const {
  expects(out.size() == pairs.size(), error_code::invalid_argument,
          "distance_batch: out has " + std::to_string(out.size()) + " slots for " +
              std::to_string(pairs.size()) + " pairs");
  for (std::size_t k = 0; k < pairs.size(); ++k) out[k] = distance(pairs[k].a, pairs[k].b);
}

dense_metric parse_dense_metric(std::string_view name) {
  if (name == "euclidean") return dense_metric::euclidean;
  if (name == "cosine") return dense_metric::cosine;
  if (name == "manhattan") return dense_metric::manhattan;
  throw error(error_code::invalid_argument, "metric: unknown dense metric '" + std::string(name) +
                                                "' (expected euclidean, cosine or manhattan)");
}

std::string_view to_string(dense_metric m) noexcept {
  switch (m) {
    case dense_metric::cosine:
      return "cosine";
    case dense_metric::manhattan:
      return "manhattan";
    default:
      return "euclidean";
  }
}

dense_source::dense_source(std::span<const float> values, std::size_t n, std::size_t dim, dense_metric metric)
    : n_(n), dim_(dim), stride_((dim + 15) / 16 * 16), metric_(metric) {
  expects(n > 0, error_code::invalid_argument, "dense_source: no rows (empty input)");
  expects(dim > 0, error_code::invalid_argument, "dense_source: rows have no columns (dim = 0)");
  expects(values.size() == n * dim, error_code::invalid_argument,
          "dense_source: " + std::to_string(values.size()) + " values for " + std::to_string(n) + " rows x " +
              std::to_string(dim) + " columns");
  const std::size_t bytes = n * stride_ * sizeof(float);
  data_ = static_cast<float*>(::operator new[](bytes, std::align_val_t{64}));
  std::memset(data_, 0, bytes);
  for (std::size_t i = 0; i < n; ++i) {
    const float* src = values.data() + i * dim;
    float* dst = data_ + i * stride_;
    double norm2 = 0;
    for (std::size_t k = 0; k < dim; ++k) {
      if (!std::isfinite(src[k])) {
        ::operator delete[](data_, std::align_val_t{64});
        data_ = nullptr;
        throw error(error_code::invalid_argument, "dense_source: row " + std::to_string(i) + ", column " +
                                                      std::to_string(k) + " is " +
                                                      (std::isnan(src[k]) ? "NaN" : "infinite"));
      }
      dst[k] = src[k];
      norm2 += double(src[k]) * src[k];
    }
    if (metric == dense_metric::cosine) {
      if (norm2 == 0) {
        ::operator delete[](data_, std::align_val_t{64});
        data_ = nullptr;
        throw error(error_code::invalid_argument,
                    "dense_source: row " + std::to_string(i) + " is all zeros; cosine distance is undefined");
      }
      const float inv = static_cast<float>(1.0 / std::sqrt(norm2));
      for (std::size_t k = 0; k < dim; ++k) dst[k] *= inv;
    }
  }
}

dense_source::~dense_source() {
  if (data_) ::operator delete[](data_, std::align_val_t{64});
}

float dense_source::distance(std::size_t i, std::size_t j) const {
  const detail::dense_kernel k = detail::kernel_for(metric_, detail::dense_kernels());
  return detail::finish_distance(metric_, k(row(i), row(j), stride_));
}

}  // namespace chutoro
