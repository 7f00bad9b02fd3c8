// Dense float32 sources. The kernels are chosen at run time (dense_simd.cpp).
#include <algorithm>
#include <chutoro/data_source.hpp>
#include <chutoro/error.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "metrics/dense_kernels.hpp"
#include "metrics/growth.hpp"

namespace chutoro {

void data_source::distance_batch(std::span<const index_pair> pairs, std::span<float> out) const {
  expects(out.size() == pairs.size(), error_code::invalid_argument,
          "distance_batch: out has " + std::to_string(out.size()) + " slots for " +
              std::to_string(pairs.size()) + " pairs");
  for (std::size_t k = 0; k < pairs.size(); ++k) out[k] = distance(pairs[k].a, pairs[k].b);
}

// Sources that cannot grow: only the built-in ones implement the three below.
void data_source::check_compatible(const data_source&) const {
  throw error(error_code::unsupported, "data source '" + name() +
                                           "' cannot grow or measure distances to items of another source "
                                           "(only built-in sources can grow / measure outside items)");
}

float data_source::cross_distance(const data_source&, std::size_t, std::size_t) const {
  throw error(error_code::unsupported, "data source '" + name() +
                                           "' cannot measure distances to items of another source "
                                           "(only built-in sources can measure outside items)");
}

void data_source::append(const data_source&) {
  throw error(error_code::unsupported,
              "data source '" + name() + "' cannot append items (only built-in sources can grow)");
}

void data_source::truncate(std::size_t) {
  throw error(error_code::unsupported,
              "data source '" + name() + "' cannot remove items (only built-in sources can grow or shrink)");
}

std::string_view to_string(source_kind k) noexcept {
  switch (k) {
    case source_kind::dense:
      return "dense";
    case source_kind::strings:
      return "strings";
    case source_kind::sets:
      return "sets";
    case source_kind::bits:
      return "bits";
    case source_kind::products:
      return "products";
    case source_kind::external:
      break;
  }
  return "external";
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
    : data_source(source_kind::dense, builtin_key{}),
      n_(n),
      dim_(dim),
      stride_((dim + 15) / 16 * 16),
      metric_(metric),
      capacity_(n) {
  load_rows(values, true);
}

dense_source::dense_source(std::span<const float> values, std::size_t n, std::size_t dim, dense_metric metric,
                           rows_normalized_t)
    : data_source(source_kind::dense, builtin_key{}),
      n_(n),
      dim_(dim),
      stride_((dim + 15) / 16 * 16),
      metric_(metric),
      capacity_(n) {
  load_rows(values, false);
}

void dense_source::load_rows(std::span<const float> values, bool normalise) {
  const std::size_t n = n_, dim = dim_;
  expects(n > 0, error_code::invalid_argument, "dense_source: no rows (empty input)");
  expects(dim > 0, error_code::invalid_argument, "dense_source: rows have no columns (dim = 0)");
  expects(values.size() == n * dim, error_code::invalid_argument,
          "dense_source: " + std::to_string(values.size()) + " values for " + std::to_string(n) + " rows x " +
              std::to_string(dim) + " columns");
  const std::size_t bytes = n * stride_ * sizeof(float);
  data_ = static_cast<float*>(::operator new[](bytes, std::align_val_t{64}));
  std::memset(data_, 0, bytes);
  auto fail = [this](const std::string& message) {
    ::operator delete[](data_, std::align_val_t{64});
    data_ = nullptr;
    throw error(error_code::invalid_argument, "dense_source: " + message);
  };
  for (std::size_t i = 0; i < n; ++i) {
    const float* src = values.data() + i * dim;
    float* dst = data_ + i * stride_;
    double norm2 = 0;
    for (std::size_t k = 0; k < dim; ++k) {
      if (!std::isfinite(src[k]))
        fail("row " + std::to_string(i) + ", column " + std::to_string(k) + " is " +
             (std::isnan(src[k]) ? "NaN" : "infinite"));
      dst[k] = src[k];
      norm2 += double(src[k]) * src[k];
    }
    if (metric_ == dense_metric::cosine) {
      if (norm2 == 0) fail("row " + std::to_string(i) + " is all zeros; cosine distance is undefined");
      if (normalise) {
        const float inv = static_cast<float>(1.0 / std::sqrt(norm2));
        for (std::size_t k = 0; k < dim; ++k) dst[k] *= inv;
      } else if (std::fabs(norm2 - 1.0) > 1e-3) {
        fail("row " + std::to_string(i) + " is not normalised (squared norm " + std::to_string(norm2) +
             "); rows_normalized needs the unit rows a cosine source stores");
      }
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

void dense_source::check_compatible(const data_source& other) const {
  const auto* o = other.kind() == source_kind::dense ? static_cast<const dense_source*>(&other) : nullptr;
  detail::expect_compatible(*this, other, o != nullptr, o && o->metric_ == metric_, o && o->dim_ == dim_);
}

float dense_source::cross_distance(const data_source& other, std::size_t i, std::size_t j) const {
  // Exactly distance(size() + i, j) after append(other): same kernel, same argument order.
  const auto& o = static_cast<const dense_source&>(other);
  const detail::dense_kernel k = detail::kernel_for(metric_, detail::dense_kernels());
  return detail::finish_distance(metric_, k(o.row(i), row(j), stride_));
}

void dense_source::append(const data_source& other) {
  check_compatible(other);
  const auto& o = static_cast<const dense_source&>(other);
  const std::size_t m = o.n_;  // read before growing: `other` may be *this
  const std::size_t row_bytes = stride_ * sizeof(float);
  if (n_ + m > capacity_) {
    // Geometric growth; the new block is 64-byte aligned like the first. Only
    // the allocation can throw, before anything changed (strong guarantee).
    const std::size_t cap = std::max(n_ + m, 2 * capacity_);
    const std::size_t bytes = cap * row_bytes;
    auto* fresh = static_cast<float*>(::operator new[](bytes, std::align_val_t{64}));
    std::memcpy(fresh, data_, n_ * row_bytes);
    std::memcpy(fresh + n_ * stride_, o.data_, m * row_bytes);  // o.data_ is still the old block
    ::operator delete[](data_, std::align_val_t{64});
    data_ = fresh;
    capacity_ = cap;
  } else {
    std::memcpy(data_ + n_ * stride_, o.data_, m * row_bytes);  // disjoint even when o is *this
  }
  n_ += m;
}

void dense_source::truncate(std::size_t n) noexcept { n_ = std::min(n, n_); }

}  // namespace chutoro
