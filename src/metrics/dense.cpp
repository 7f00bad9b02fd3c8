// Dense float32 sources. The kernels are chosen at run time (dense_simd.cpp).
#include <algorithm>
#include <chutoro/data_source.hpp>
#include <chutoro/error.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
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

namespace {

/// The largest distance dense_source accepts: half float32's maximum, a margin
/// for the rounding of float32 sums (manhattan) so that no sum reaches inf.
constexpr double kMaxDistance = 0x1p127;

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

/// The largest distance under m between two points of the box whose column k
/// spans [lo(k), hi(k)]: its diagonal (euclidean) or the sum of its sides
/// (manhattan); 0 for cosine (unit rows). Columns with hi < lo (no rows) count 0.
template <class Lo, class Hi>
double box_reach(dense_metric m, std::size_t dim, Lo lo, Hi hi) noexcept {
  if (m == dense_metric::cosine) return 0;
  double s = 0;
  for (std::size_t k = 0; k < dim; ++k) {
    const double side = std::max(0.0, static_cast<double>(hi(k)) - static_cast<double>(lo(k)));
    s += m == dense_metric::euclidean ? side * side : side;
  }
  return m == dense_metric::euclidean ? std::sqrt(s) : s;
}

/// The column with the widest range.
template <class Lo, class Hi>
std::size_t widest_column(std::size_t dim, Lo lo, Hi hi) noexcept {
  std::size_t best = 0;
  double width = -1;
  for (std::size_t k = 0; k < dim; ++k) {
    const double w = static_cast<double>(hi(k)) - static_cast<double>(lo(k));
    if (w > width) width = w, best = k;
  }
  return best;
}

/// The first of rows [0, n) whose column k holds v.
std::size_t row_holding(const dense_source& s, std::size_t n, std::size_t k, float v) noexcept {
  for (std::size_t i = 0; i < n; ++i)
    if (s.row(i)[k] == v) return i;
  return n;
}

/// "euclidean distances <between> can reach 2e+38 (...), beyond ...: column 0 runs from ..."
std::string too_far(dense_metric m, std::string_view between, double reach, std::size_t dim, std::size_t k,
                    float lo, const std::string& lo_where, float hi, const std::string& hi_where) {
  const double side = static_cast<double>(hi) - static_cast<double>(lo);
  std::string msg =
      std::string(to_string(m)) + " distances " + std::string(between) + " can reach " + number(reach);
  if (dim > 1)
    msg += m == dense_metric::euclidean ? " (the diagonal of their bounding box)"
                                        : " (the sum of their columns' ranges)";
  msg += ", more than float32 distances can hold (chutoro allows up to 2^127 = " + number(kMaxDistance) +
         ", half the float32 maximum " + number(std::numeric_limits<float>::max()) +
         ", a margin for rounding): column " + std::to_string(k) + " runs from " + number(lo) + " (" +
         lo_where + ") to " + number(hi) + " (" + hi_where + ")";
  if (side > std::numeric_limits<float>::max()) msg += ", a difference float32 cannot even represent";
  msg += "; divide the data by a constant (distances scale with it; the clusters stay the same)";
  return msg;
}

}  // namespace

void dense_source::load_rows(std::span<const float> values, bool normalise) {
  const std::size_t n = n_, dim = dim_;
  expects(n > 0, error_code::invalid_argument, "dense_source: no rows (empty input)");
  expects(dim > 0, error_code::invalid_argument, "dense_source: rows have no columns (dim = 0)");
  expects(values.size() == n * dim, error_code::invalid_argument,
          "dense_source: " + std::to_string(values.size()) + " values for " + std::to_string(n) + " rows x " +
              std::to_string(dim) + " columns");
  lo_.resize(dim);
  hi_.resize(dim);
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
             (std::isnan(src[k]) ? "NaN" : "infinite") + " (0-based row, column)");
      dst[k] = src[k];
      norm2 += double(src[k]) * src[k];  // double: squares of any finite float32 fit
    }
    if (metric_ == dense_metric::cosine) {
      if (norm2 == 0)
        fail("row " + std::to_string(i) + " is all zeros; cosine distance is undefined (0-based row)");
      if (normalise) {
        // In double: 1/|x| can pass float32's range (|x| < 3e-39) or be subnormal (|x| > 3e38).
        const double inv = 1.0 / std::sqrt(norm2);
        for (std::size_t k = 0; k < dim; ++k) dst[k] = static_cast<float>(dst[k] * inv);
      } else if (std::fabs(norm2 - 1.0) > 1e-3) {
        fail("row " + std::to_string(i) + " is not normalised (squared norm " + std::to_string(norm2) +
             "); rows_normalized needs the unit rows a cosine source stores (0-based row)");
      }
    }
  }
  update_bounds(0);
  const double reach = box_reach(
      metric_, dim, [&](std::size_t k) { return lo_[k]; }, [&](std::size_t k) { return hi_[k]; });
  if (reach > kMaxDistance) {
    const std::size_t k = widest_column(
        dim, [&](std::size_t c) { return lo_[c]; }, [&](std::size_t c) { return hi_[c]; });
    fail(too_far(metric_, "between these rows", reach, dim, k, lo_[k],
                 "row " + std::to_string(row_holding(*this, n, k, lo_[k])), hi_[k],
                 "row " + std::to_string(row_holding(*this, n, k, hi_[k]))) +
         " (rows 0-based)");
  }
}

void dense_source::update_bounds(std::size_t from) noexcept {
  if (from == 0) {
    std::fill(lo_.begin(), lo_.end(), std::numeric_limits<float>::infinity());
    std::fill(hi_.begin(), hi_.end(), -std::numeric_limits<float>::infinity());
  }
  for (std::size_t i = from; i < n_; ++i) {
    const float* r = row(i);
    for (std::size_t k = 0; k < dim_; ++k) {
      lo_[k] = std::min(lo_[k], r[k]);
      hi_[k] = std::max(hi_[k], r[k]);
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
  // Each source's own distances are in range; between them, the joint bounding box decides.
  auto lo = [&](std::size_t k) { return std::min(lo_[k], o->lo_[k]); };
  auto hi = [&](std::size_t k) { return std::max(hi_[k], o->hi_[k]); };
  const double reach = box_reach(metric_, dim_, lo, hi);
  if (reach <= kMaxDistance) return;
  const std::size_t k = widest_column(dim_, lo, hi);
  auto where = [&](float v) {
    const bool mine = lo_[k] == v || hi_[k] == v;
    const dense_source& s = mine ? *this : *o;
    return "row " + std::to_string(row_holding(s, s.n_, k, v)) +
           (mine ? " of this source" : " of the other source");
  };
  throw error(error_code::invalid_argument,
              "dense_source: " +
                  too_far(metric_, "between this source's items and the other source's", reach, dim_, k,
                          lo(k), where(lo(k)), hi(k), where(hi(k))) +
                  " (rows 0-based)");
}

float dense_source::cross_distance(const data_source& other, std::size_t i, std::size_t j) const {
  // Exactly distance(size() + i, j) after append(other): same kernels, same argument order.
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
  const std::size_t from = n_;
  n_ += m;
  update_bounds(from);
}

void dense_source::truncate(std::size_t n) noexcept {
  if (n >= n_) return;
  n_ = n;
  update_bounds(0);  // the bounds of the rows kept: a later append or cross_distance is judged on them
}

}  // namespace chutoro
