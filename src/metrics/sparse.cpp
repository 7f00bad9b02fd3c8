// chutoro — sparse_source (CSR rows under euclidean, cosine, manhattan, inner_product).
#include <algorithm>
#include <chutoro/error.hpp>
#include <chutoro/metric_table.hpp>
#include <chutoro/metrics.hpp>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <string>
#include <utility>

#include "metrics/growth.hpp"
#include "metrics/sparse_kernels.hpp"

namespace chutoro {

sparse_metric parse_sparse_metric(std::string_view name) {
  const metric_info* m = find_builtin_metric(name);
  if (m != nullptr && m->sparse >= 0) return static_cast<sparse_metric>(m->sparse);
  std::string names;
  for (const metric_info& i : builtin_metrics)
    if (i.sparse >= 0) names += (names.empty() ? "" : ", ") + std::string(i.name);
  throw error(
      error_code::invalid_argument,
      "metric: '" + std::string(name) + "' is not available for sparse rows (expected " + names + ")");
}

std::string_view to_string(sparse_metric m) noexcept {
  for (const metric_info& i : builtin_metrics)
    if (i.sparse == static_cast<int>(m)) return i.name;
  return "euclidean";
}

namespace {

[[noreturn]] void fail(const std::string& problem) {
  throw error(error_code::invalid_argument, "sparse_source: " + problem);
}

std::string row_text(std::size_t i) { return "row " + std::to_string(i) + " (0-based)"; }

}  // namespace

sparse_source::sparse_source(std::span<const std::int64_t> indptr, std::span<const std::int64_t> indices,
                             std::span<const float> values, std::size_t n_features, sparse_metric metric)
    : data_source(source_kind::sparse, builtin_key{}), dim_(n_features), metric_(metric) {
  load(indptr, indices, values, true);
}

sparse_source::sparse_source(std::span<const std::int32_t> indptr, std::span<const std::int32_t> indices,
                             std::span<const float> values, std::size_t n_features, sparse_metric metric)
    : data_source(source_kind::sparse, builtin_key{}), dim_(n_features), metric_(metric) {
  load(indptr, indices, values, true);
}

sparse_source::sparse_source(std::span<const std::int64_t> indptr, std::span<const std::int64_t> indices,
                             std::span<const float> values, std::size_t n_features, sparse_metric metric,
                             rows_normalized_t)
    : data_source(source_kind::sparse, builtin_key{}), dim_(n_features), metric_(metric) {
  load(indptr, indices, values, false);
}

template <class I>
void sparse_source::load(std::span<const I> indptr, std::span<const I> indices, std::span<const float> values,
                         bool normalise) {
  if (indptr.size() < 2)
    fail("no rows (indptr has " + std::to_string(indptr.size()) + " entries; n rows need n + 1)");
  const std::size_t n = indptr.size() - 1;
  if (dim_ == 0) fail("rows have no columns (n_features = 0)");
  if (dim_ > std::numeric_limits<std::uint32_t>::max())
    fail("n_features = " + std::to_string(dim_) + " is more than chutoro's 2^32 - 1 columns");
  if (indptr[0] != 0) fail("indptr[0] = " + std::to_string(indptr[0]) + " (must be 0)");
  for (std::size_t i = 0; i < n; ++i)
    if (indptr[i + 1] < indptr[i])
      fail("indptr is not non-decreasing at " + row_text(i) + ": indptr[" + std::to_string(i + 1) +
           "] = " + std::to_string(indptr[i + 1]) + " < indptr[" + std::to_string(i) +
           "] = " + std::to_string(indptr[i]));
  const auto nnz = static_cast<std::uint64_t>(indptr[n]);
  if (nnz != indices.size() || nnz != values.size())
    fail("indptr[n] = " + std::to_string(nnz) + " stored entries, but indices has " +
         std::to_string(indices.size()) + " and values " + std::to_string(values.size()));
  indptr_.assign(indptr.begin(), indptr.end());
  indices_.resize(nnz);
  values_.resize(nnz);
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t b = indptr_[i], e = indptr_[i + 1];
    bool sorted = true;
    for (std::size_t k = b; k < e; ++k) {
      const I c = indices[k];
      if (c < 0 || static_cast<std::uint64_t>(c) >= dim_)
        fail(row_text(i) + ": column index " + std::to_string(c) +
             " is outside [0, n_features = " + std::to_string(dim_) + ")");
      const float v = values[k];
      if (!std::isfinite(v))
        fail(row_text(i) + ", column " + std::to_string(c) + ": the value is " +
             (std::isnan(v) ? "NaN" : "infinite"));
      if (k > b && indices[k] <= indices[k - 1]) sorted = false;
    }
    if (sorted) {
      for (std::size_t k = b; k < e; ++k)
        indices_[k] = static_cast<std::uint32_t>(indices[k]), values_[k] = values[k];
    } else {  // scipy's has_sorted_indices = False: sort this row's copy by column
      order.resize(e - b);
      std::iota(order.begin(), order.end(), b);
      std::sort(order.begin(), order.end(),
                [&](std::size_t x, std::size_t y) { return indices[x] < indices[y]; });
      for (std::size_t k = b; k < e; ++k)
        indices_[k] = static_cast<std::uint32_t>(indices[order[k - b]]), values_[k] = values[order[k - b]];
    }
    double sum_abs = 0, norm2 = 0;
    for (std::size_t k = b; k < e; ++k) {
      if (k > b && indices_[k] == indices_[k - 1])
        fail(row_text(i) + ": column " + std::to_string(indices_[k]) +
             " is stored twice (duplicate entries; sum them first, e.g. scipy's X.sum_duplicates())");
      sum_abs += std::fabs(double(values_[k]));
      norm2 += double(values_[k]) * values_[k];
    }
    // |x - y| <= |x|_1 + |y|_1 (manhattan and euclidean): with every row's sum at most 2^126, every
    // distance fits float32, as dense_source's 2^127 bound; inner_product: as product_source.
    if ((metric_ == sparse_metric::euclidean || metric_ == sparse_metric::manhattan) && sum_abs > 0x1p126) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.3g", sum_abs);
      fail(row_text(i) + " has sum |x_k| = " + buf + ": " + name() +
           " distances of such rows can pass float32's range (chutoro allows up to 2^126 = 8.5e+37); scale "
           "the "
           "rows down");
    }
    if (metric_ == sparse_metric::inner_product && norm2 > 0x1p127) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.3g", norm2);
      fail(row_text(i) + " has squared norm " + buf +
           ": inner_product distances 1 - <x, y> of such rows can pass float32's range (chutoro allows up to "
           "2^127 = 1.7e+38); scale the rows down, or use cosine");
    }
    if (metric_ == sparse_metric::cosine) {
      if (!(norm2 > 0)) fail(row_text(i) + " is all zeros; cosine distance is undefined");
      if (normalise) {
        const double inv = 1.0 / std::sqrt(norm2);
        for (std::size_t k = b; k < e; ++k) values_[k] = static_cast<float>(values_[k] * inv);
      } else if (std::fabs(norm2 - 1.0) > 1e-3) {
        fail(row_text(i) + " is not normalised (squared norm " + std::to_string(norm2) +
             "); rows_normalized needs the unit rows a cosine source stores");
      }
    }
  }
}

float sparse_source::distance(std::size_t i, std::size_t j) const {
  return detail::sparse_distance(metric_, row(i), row(j));
}

void sparse_source::check_compatible(const data_source& other) const {
  const auto* o = other.kind() == source_kind::sparse ? static_cast<const sparse_source*>(&other) : nullptr;
  detail::expect_compatible(*this, other, o != nullptr, o && o->metric_ == metric_, o && o->dim_ == dim_);
}

float sparse_source::cross_distance(const data_source& other, std::size_t i, std::size_t j) const {
  return detail::sparse_distance(metric_, static_cast<const sparse_source&>(other).row(i), row(j));
}

void sparse_source::append(const data_source& other) {
  check_compatible(other);
  const auto& o = static_cast<const sparse_source&>(other);
  // Sizes before growing: o may be *this.
  const std::size_t m = o.size(), nnz = indptr_.back(), onnz = o.indptr_.back(), rows = indptr_.size();
  // Reserving is the only step that can throw, and it changes no element (strong guarantee).
  detail::reserve_geometric(indptr_, rows + m);
  detail::reserve_geometric(indices_, nnz + onnz);
  detail::reserve_geometric(values_, nnz + onnz);
  indices_.resize(nnz + onnz);  // within the reserved capacity: no reallocation, o's data stays put
  values_.resize(nnz + onnz);
  std::copy_n(o.indices_.data(), onnz, indices_.data() + nnz);  // disjoint even when o is *this
  std::copy_n(o.values_.data(), onnz, values_.data() + nnz);
  for (std::size_t i = 1; i <= m; ++i) indptr_.push_back(nnz + o.indptr_[i]);
}

void sparse_source::truncate(std::size_t n) noexcept {
  if (n >= size()) return;
  indptr_.resize(n + 1);  // shrinking: no allocation
  indices_.resize(indptr_.back());
  values_.resize(indptr_.back());
}

template <class I>
std::unique_ptr<data_source> make_sparse_source(std::span<const I> indptr, std::span<const I> indices,
                                                std::span<const float> values, std::size_t n_features,
                                                std::string_view metric) {
  return std::make_unique<sparse_source>(indptr, indices, values, n_features, parse_sparse_metric(metric));
}
template std::unique_ptr<data_source> make_sparse_source(std::span<const std::int32_t>,
                                                         std::span<const std::int32_t>,
                                                         std::span<const float>, std::size_t,
                                                         std::string_view);
template std::unique_ptr<data_source> make_sparse_source(std::span<const std::int64_t>,
                                                         std::span<const std::int64_t>,
                                                         std::span<const float>, std::size_t,
                                                         std::string_view);

}  // namespace chutoro
