// Dense float32 sources. The kernels are chosen at run time (dense_simd.cpp).
#include <algorithm>
#include <chutoro/data_source.hpp>
#include <chutoro/error.hpp>
#include <chutoro/metric_table.hpp>
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
    case source_kind::sparse:
      return "sparse";
    case source_kind::external:
      break;
  }
  return "external";
}

dense_metric parse_dense_metric(std::string_view name) {
  const metric_info* m = find_builtin_metric(name);
  if (m != nullptr && m->kind == source_kind::dense) return static_cast<dense_metric>(m->value);
  std::string names;
  for (const metric_info& i : builtin_metrics)
    if (i.kind == source_kind::dense) names += (names.empty() ? "" : ", ") + std::string(i.name);
  throw error(error_code::invalid_argument,
              "metric: unknown dense metric '" + std::string(name) + "' (expected " + names + ")");
}

std::string_view to_string(dense_metric m) noexcept {
  for (const metric_info& i : builtin_metrics)
    if (i.kind == source_kind::dense && i.value == static_cast<int>(m)) return i.name;
  return "euclidean";
}

dense_source::dense_source(std::span<const float> values, std::size_t n, std::size_t dim, dense_metric metric,
                           std::span<const double> params)
    : data_source(source_kind::dense, builtin_key{}),
      n_(n),
      dim_(dim),
      stride_((dim + 15) / 16 * 16),
      metric_(metric),
      capacity_(n),
      params_(params.begin(), params.end()) {
  load_rows(values, true);
}

dense_source::dense_source(std::span<const float> values, std::size_t n, std::size_t dim, dense_metric metric,
                           rows_normalized_t, std::span<const double> params)
    : data_source(source_kind::dense, builtin_key{}),
      n_(n),
      dim_(dim),
      stride_((dim + 15) / 16 * 16),
      metric_(metric),
      capacity_(n),
      params_(params.begin(), params.end()) {
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
/// seuclidean and mahalanobis (over their transformed rows) count as euclidean;
/// chebyshev takes the widest side, minkowski the p-norm of the sides; canberra
/// (<= dim) and braycurtis (<= 1) are bounded whatever the rows.
template <class Lo, class Hi>
double box_reach(dense_metric m, std::size_t dim, Lo lo, Hi hi, double p = 2) noexcept {
  if (m == dense_metric::cosine || m == dense_metric::canberra || m == dense_metric::braycurtis) return 0;
  const bool l2 =
      m == dense_metric::euclidean || m == dense_metric::seuclidean || m == dense_metric::mahalanobis;
  double s = 0, widest = 0;
  for (std::size_t k = 0; k < dim; ++k) {
    const double side = std::max(0.0, static_cast<double>(hi(k)) - static_cast<double>(lo(k)));
    widest = std::max(widest, side);
    s += l2 ? side * side : side;
  }
  if (m == dense_metric::chebyshev) return widest;
  if (m == dense_metric::minkowski) {
    if (widest == 0) return 0;
    double t = 0;
    for (std::size_t k = 0; k < dim; ++k)
      t += std::pow(std::max(0.0, static_cast<double>(hi(k)) - static_cast<double>(lo(k))) / widest, p);
    return widest * std::pow(t, 1.0 / p);
  }
  return l2 ? std::sqrt(s) : s;
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
    msg +=
        m == dense_metric::manhattan ? " (the sum of their columns' ranges)" : " (across their bounding box)";
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
  if (normalise && params_.empty() &&
      (metric_ == dense_metric::seuclidean || metric_ == dense_metric::mahalanobis)) {
    // The default V / VI are statistics of the rows: first make sure they are finite.
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t k = 0; k < dim; ++k)
        if (const float v = values[i * dim + k]; !std::isfinite(v))
          throw error(error_code::invalid_argument,
                      "dense_source: row " + std::to_string(i) + ", column " + std::to_string(k) + " is " +
                          (std::isnan(v) ? "NaN" : "infinite") + " (0-based row, column)");
  }
  prepare_params(values, normalise);
  std::vector<double> scratch(dim);  // transform_row's
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
    if (normalise && !transform_row(dst, scratch.data()))
      fail("row " + std::to_string(i) + " divided by sqrt(V) or multiplied by L^T (" +
           std::string(to_string(metric_)) +
           ") passes the float32 range; scale the data or the parameter (0-based row)");
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
      metric_, dim, [&](std::size_t k) { return lo_[k]; }, [&](std::size_t k) { return hi_[k]; },
      detail::minkowski_p(*this));
  if (reach > kMaxDistance) {
    const std::size_t k = widest_column(
        dim, [&](std::size_t c) { return lo_[c]; }, [&](std::size_t c) { return hi_[c]; });
    fail(too_far(metric_, "between these rows", reach, dim, k, lo_[k],
                 "row " + std::to_string(row_holding(*this, n, k, lo_[k])), hi_[k],
                 "row " + std::to_string(row_holding(*this, n, k, hi_[k]))) +
         " (rows 0-based)");
  }
}

namespace {

std::string describe_params(const std::vector<double>& params, std::size_t dim) {
  if (params.empty()) return "none";
  if (params.size() == 1 && dim != 1) return "p=" + number(params[0]);
  std::string out = std::to_string(params.size()) + " values: " + number(params[0]);
  for (std::size_t k = 1; k < std::min<std::size_t>(params.size(), 4); ++k) out += ", " + number(params[k]);
  if (params.size() > 4) out += ", ...";
  return out;
}

/// Cholesky factor L (row-major, lower) of the symmetric dim x dim matrix a, or
/// false when a is not positive definite.
bool cholesky(const std::vector<double>& a, std::size_t dim, std::vector<double>& l) {
  l.assign(dim * dim, 0.0);
  for (std::size_t i = 0; i < dim; ++i)
    for (std::size_t j = 0; j <= i; ++j) {
      double s = a[i * dim + j];
      for (std::size_t k = 0; k < j; ++k) s -= l[i * dim + k] * l[j * dim + k];
      if (i == j) {
        if (!(s > 0) || !std::isfinite(s)) return false;
        l[i * dim + i] = std::sqrt(s);
      } else {
        l[i * dim + j] = s / l[j * dim + j];
      }
    }
  return true;
}

}  // namespace

void dense_source::prepare_params(std::span<const float> values, bool compute) {
  const std::string name(to_string(metric_));
  auto bad = [&](const std::string& what) {
    throw error(error_code::invalid_argument, "dense_source: metric_params of " + name + ": " + what);
  };
  chol_.clear();
  const std::size_t dim = dim_, n = n_;
  switch (metric_) {
    case dense_metric::minkowski:
      if (params_.empty()) params_ = {2.0};
      if (params_.size() != 1) bad("expected one value, p (got " + std::to_string(params_.size()) + ")");
      if (!(params_[0] > 0) || !std::isfinite(params_[0]))
        bad("p must be a finite number > 0 (got " + number(params_[0]) +
            "; p = infinity is metric='chebyshev')");
      return;
    case dense_metric::seuclidean: {
      if (params_.empty()) {
        if (!compute) bad("V must be given for stored rows");
        if (n < 2)
          bad("V (the column variances) cannot be estimated from " + std::to_string(n) + " row; pass V");
        params_.assign(dim, 0.0);
        for (std::size_t k = 0; k < dim; ++k) {
          double mean = 0;
          for (std::size_t i = 0; i < n; ++i) mean += values[i * dim + k];
          mean /= static_cast<double>(n);
          double ss = 0;
          for (std::size_t i = 0; i < n; ++i)
            ss += (values[i * dim + k] - mean) * (values[i * dim + k] - mean);
          params_[k] = ss / static_cast<double>(n - 1);
        }
      }
      if (params_.size() != dim)
        bad("V needs one variance per column: " + std::to_string(dim) + " values (got " +
            std::to_string(params_.size()) + ")");
      chol_.resize(dim);
      for (std::size_t k = 0; k < dim; ++k) {
        if (!(params_[k] > 0) || !std::isfinite(params_[k]))
          bad("V[" + std::to_string(k) + "] = " + number(params_[k]) +
              " is not a finite variance > 0 (a constant column has variance 0; drop it or pass V)");
        chol_[k] = 1.0 / std::sqrt(params_[k]);
      }
      return;
    }
    case dense_metric::mahalanobis: {
      if (params_.empty()) {
        if (!compute) bad("VI must be given for stored rows");
        // VI = inverse of the covariance (ddof 1), through its Cholesky factor: C = L L^T, C^-1 = L^-T L^-1.
        std::vector<double> mean(dim, 0.0), cov(dim * dim, 0.0), l;
        for (std::size_t i = 0; i < n; ++i)
          for (std::size_t k = 0; k < dim; ++k) mean[k] += values[i * dim + k];
        for (double& m : mean) m /= static_cast<double>(n);
        for (std::size_t i = 0; i < n; ++i)
          for (std::size_t a = 0; a < dim; ++a)
            for (std::size_t b = 0; b <= a; ++b)
              cov[a * dim + b] += (values[i * dim + a] - mean[a]) * (values[i * dim + b] - mean[b]);
        for (std::size_t a = 0; a < dim; ++a)
          for (std::size_t b = 0; b <= a; ++b)
            cov[b * dim + a] = cov[a * dim + b] /= static_cast<double>(n - 1);
        if (n < 2 || !cholesky(cov, dim, l))
          bad("the covariance of the " + std::to_string(n) +
              " rows is singular (it needs more rows than columns " +
              "and no constant or linearly dependent column), so VI cannot default to its inverse; pass VI");
        std::vector<double> linv(dim * dim, 0.0);  // L^-1, lower
        for (std::size_t c = 0; c < dim; ++c) {
          linv[c * dim + c] = 1.0 / l[c * dim + c];
          for (std::size_t i = c + 1; i < dim; ++i) {
            double s = 0;
            for (std::size_t k = c; k < i; ++k) s -= l[i * dim + k] * linv[k * dim + c];
            linv[i * dim + c] = s / l[i * dim + i];
          }
        }
        params_.assign(dim * dim, 0.0);  // VI = L^-T L^-1
        for (std::size_t a = 0; a < dim; ++a)
          for (std::size_t b = 0; b < dim; ++b) {
            double s = 0;
            for (std::size_t k = std::max(a, b); k < dim; ++k) s += linv[k * dim + a] * linv[k * dim + b];
            params_[a * dim + b] = s;
          }
      }
      if (params_.size() != dim * dim)
        bad("VI must be " + std::to_string(dim) + " x " + std::to_string(dim) + " = " +
            std::to_string(dim * dim) + " values (got " + std::to_string(params_.size()) + ")");
      for (std::size_t a = 0; a < dim; ++a)
        for (std::size_t b = 0; b < dim; ++b) {
          const double x = params_[a * dim + b], y = params_[b * dim + a];
          if (!std::isfinite(x))
            bad("VI[" + std::to_string(a) + ", " + std::to_string(b) + "] is not finite");
          if (std::fabs(x - y) > 1e-9 * std::max({1.0, std::fabs(x), std::fabs(y)}))
            bad("VI is not symmetric: VI[" + std::to_string(a) + ", " + std::to_string(b) + "] = " +
                number(x) + " but VI[" + std::to_string(b) + ", " + std::to_string(a) + "] = " + number(y));
        }
      std::vector<double> l;
      if (!cholesky(params_, dim, l)) bad("VI is not positive definite (an inverse covariance is)");
      chol_.assign(dim * dim, 0.0);  // U = L^T
      for (std::size_t a = 0; a < dim; ++a)
        for (std::size_t b = a; b < dim; ++b) chol_[a * dim + b] = l[b * dim + a];
      return;
    }
    default:
      if (!params_.empty())
        bad("this metric takes no parameters (got " + describe_params(params_, dim) + ")");
      return;
  }
}

bool dense_source::transform_row(float* row, double* out) const noexcept {
  if (metric_ == dense_metric::seuclidean) {
    for (std::size_t k = 0; k < dim_; ++k) {
      row[k] = static_cast<float>(row[k] * chol_[k]);
      if (!std::isfinite(row[k])) return false;
    }
  } else if (metric_ == dense_metric::mahalanobis) {
    for (std::size_t a = 0; a < dim_; ++a) {
      double s = 0;
      for (std::size_t b = a; b < dim_; ++b) s += chol_[a * dim_ + b] * row[b];
      out[a] = s;
    }
    for (std::size_t a = 0; a < dim_; ++a) {
      row[a] = static_cast<float>(out[a]);
      if (!std::isfinite(row[a])) return false;
    }
  }
  return true;
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
  return detail::dense_row_distance(*this, row(i), row(j));
}

void dense_source::distance_batch(std::span<const index_pair> pairs, std::span<float> out) const {
  expects(out.size() == pairs.size(), error_code::invalid_argument,
          "distance_batch: out has " + std::to_string(out.size()) + " slots for " +
              std::to_string(pairs.size()) + " pairs");
  if (!detail::uses_kernel_table(metric_)) {
    for (std::size_t k = 0; k < pairs.size(); ++k) out[k] = distance(pairs[k].a, pairs[k].b);
    return;
  }
  // Runs of pairs that share their first item: one blocked kernel call each.
  const detail::rows_kernel many = detail::rows_kernel_for(metric_, detail::dense_kernels());
  std::vector<std::uint32_t> ids;
  for (std::size_t r = 0; r < pairs.size();) {
    std::size_t e = r + 1;
    while (e < pairs.size() && pairs[e].a == pairs[r].a) ++e;
    ids.resize(e - r);
    for (std::size_t k = r; k < e; ++k) ids[k - r] = pairs[k].b;
    many(row(pairs[r].a), data_, stride_, ids.data(), ids.size(), out.data() + r);
    for (std::size_t k = r; k < e; ++k) out[k] = detail::finish_distance(metric_, out[k]);
    r = e;
  }
}

void dense_source::check_compatible(const data_source& other) const {
  const auto* o = other.kind() == source_kind::dense ? static_cast<const dense_source*>(&other) : nullptr;
  detail::expect_compatible(*this, other, o != nullptr, o && o->metric_ == metric_, o && o->dim_ == dim_);
  if (o->params_ != params_)
    throw error(error_code::type_mismatch,
                "incompatible data sources: the same metric '" + std::string(to_string(metric_)) +
                    "' with different parameters (" + describe_params(params_, dim_) + " vs " +
                    describe_params(o->params_, dim_) +
                    "); build the new items' source with the parameters of the source they join");
  // Each source's own distances are in range; between them, the joint bounding box decides.
  auto lo = [&](std::size_t k) { return std::min(lo_[k], o->lo_[k]); };
  auto hi = [&](std::size_t k) { return std::max(hi_[k], o->hi_[k]); };
  const double reach = box_reach(metric_, dim_, lo, hi, detail::minkowski_p(*this));
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
  return detail::dense_row_distance(*this, o.row(i), row(j));
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
