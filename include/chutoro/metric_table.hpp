// chutoro — the one list of built-in metrics. The C++ parsers, the CLI's
// --metric choices and help, and Python's accepted metric names all read this
// table (Python through chutoro._core.builtin_metrics()), so the three doors
// offer the same metrics under the same names. To add a metric: add its row
// here, its kernel in src/metrics/, and its case in the source that owns it.
//
// Formulas follow scipy.spatial.distance (and so scikit-learn and hdbscan);
// docs/metrics.md gives each metric's properties and references.
#pragma once

#include <chutoro/data_source.hpp>
#include <chutoro/metrics.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace chutoro {

/// What items a metric measures, i.e. which inputs it fits.
enum class metric_items : int {
  vectors = 0,  ///< dense float vectors (csv, npy, numpy arrays, Arrow list columns)
  strings = 1,  ///< text items (lines files, lists of str, Arrow string columns)
};

/// One built-in metric.
struct metric_info {
  std::string_view name;  ///< canonical name (what data_source::name() returns)
  metric_items items;     ///< which inputs it fits
  source_kind kind;       ///< the built-in source class that computes it
  int value;              ///< its enum value in that class (dense_metric, product_metric, bit_metric); 0 else
  std::string_view params;   ///< the parameter it takes ("p", "V", "VI"), or empty
  std::string_view summary;  ///< the formula, one line
  /// Its sparse_metric value when sparse_source computes it too (sparse CSR rows), else -1.
  int sparse = -1;
};

// clang-format off
/// Every built-in metric, in the order help texts list them. The last field, where given, is
/// the metric's sparse_metric value: the metrics sparse CSR rows (sparse_source) offer.
inline constexpr metric_info builtin_metrics[] = {
    {"euclidean", metric_items::vectors, source_kind::dense, 0, "", "sqrt(sum (x_k - y_k)^2)", 0},
    {"cosine", metric_items::vectors, source_kind::dense, 1, "", "1 - <x, y> / (|x| |y|)", 1},
    {"manhattan", metric_items::vectors, source_kind::dense, 2, "", "sum |x_k - y_k|", 2},
    {"chebyshev", metric_items::vectors, source_kind::dense, 3, "", "max |x_k - y_k|"},
    {"minkowski", metric_items::vectors, source_kind::dense, 4, "p", "(sum |x_k - y_k|^p)^(1/p), p > 0 (default 2)"},
    {"seuclidean", metric_items::vectors, source_kind::dense, 5, "V",
     "sqrt(sum (x_k - y_k)^2 / V_k); V defaults to the column variances (ddof 1)"},
    {"mahalanobis", metric_items::vectors, source_kind::dense, 6, "VI",
     "sqrt((x - y)^T VI (x - y)); VI defaults to the inverse covariance"},
    {"canberra", metric_items::vectors, source_kind::dense, 7, "", "sum |x_k - y_k| / (|x_k| + |y_k|)"},
    {"braycurtis", metric_items::vectors, source_kind::dense, 8, "", "sum |x_k - y_k| / sum |x_k + y_k|"},
    {"inner_product", metric_items::vectors, source_kind::products, 0, "", "max(0, 1 - <x, y>)", 3},
    {"angular", metric_items::vectors, source_kind::products, 1, "", "arccos(<x, y> / (|x| |y|)) / pi"},
    {"hamming", metric_items::vectors, source_kind::bits, 0, "",
     "number of differing bits of 0/1 vectors (scipy's hamming times the dimension)"},
    {"tanimoto", metric_items::vectors, source_kind::bits, 1, "", "1 - |x and y| / |x or y| of 0/1 vectors"},
    {"levenshtein", metric_items::strings, source_kind::strings, 0, "", "edit distance over Unicode code points"},
    {"jaccard", metric_items::strings, source_kind::sets, 0, "",
     "1 - |A n B| / |A u B| of each line's whitespace-separated tokens"},
};

/// Other names accepted for a metric (scikit-learn's and scipy's aliases).
struct metric_alias {
  std::string_view alias;
  std::string_view name;
};
inline constexpr metric_alias builtin_metric_aliases[] = {
    {"l2", "euclidean"}, {"l1", "manhattan"}, {"cityblock", "manhattan"}, {"infinity", "chebyshev"},
};
// clang-format on

/// The metric named `name` or an alias of it (exact, lower case), or nullptr. O(table).
[[nodiscard]] constexpr const metric_info* find_builtin_metric(std::string_view name) noexcept {
  for (const metric_alias& a : builtin_metric_aliases)
    if (a.alias == name) name = a.name;
  for (const metric_info& m : builtin_metrics)
    if (m.name == name) return &m;
  return nullptr;
}

/// The metric named `name` (or an alias). Throws error(invalid_argument) "metric: unknown metric 'x'
/// (expected euclidean, cosine, ... or an alias l2, l1, ...)" otherwise.
const metric_info& builtin_metric(std::string_view name);

/// The canonical names of the metrics for `items`, joined by ", " (for help texts and messages).
[[nodiscard]] std::string builtin_metric_names(metric_items items);
/// "l2 (euclidean), l1 (manhattan), ..." for help texts.
[[nodiscard]] std::string builtin_metric_alias_list();

/// The parameters of a metric (scikit-learn's and scipy's metric_params).
/// Only the one the metric takes (metric_info::params) may be set.
struct metric_params {
  std::optional<double> p;  ///< minkowski's order, > 0 (default 2)
  std::vector<double> V;    ///< seuclidean's dim variances, each > 0
  std::vector<double> VI;   ///< mahalanobis' dim x dim inverse covariance, row-major
  [[nodiscard]] bool empty() const noexcept { return !p && V.empty() && VI.empty(); }
};

/// Parses one "name=value" setting (the CLI's --metric-param): "p=3",
/// "V=1,2.5,4" (comma-separated numbers), "VI=..." (dim*dim numbers, row
/// major). Throws error(invalid_argument) naming the setting on a bad name or number.
void parse_metric_param(std::string_view setting, metric_params& into);

/// Throws error(invalid_argument) when `params` sets a parameter that metric `m` does not take
/// ("metric_params: euclidean takes no parameters (got p)").
void check_metric_params(const metric_info& m, const metric_params& params);

/// The built-in source for n x dim float32 row-major `values` under the vector metric `metric`
/// (a name or alias; items == vectors): a dense_source, product_source or bit_source (hamming and
/// tanimoto need 0/1 values). Throws error(invalid_argument) for an unknown metric, a string metric,
/// parameters the metric does not take, and what the source's constructor throws.
std::unique_ptr<data_source> make_vector_source(std::span<const float> values, std::size_t n, std::size_t dim,
                                                std::string_view metric, const metric_params& params = {});

/// The sparse_source for CSR rows (see sparse_source) under `metric` (a name or alias of a metric
/// with a sparse value: euclidean, cosine, manhattan, inner_product). Throws error(invalid_argument)
/// for any other metric (naming the sparse ones), and what sparse_source's constructor throws.
template <class I>
std::unique_ptr<data_source> make_sparse_source(std::span<const I> indptr, std::span<const I> indices,
                                                std::span<const float> values, std::size_t n_features,
                                                std::string_view metric);

/// The built-in source for text items under the string metric `metric` (levenshtein or jaccard).
std::unique_ptr<data_source> make_string_source(std::span<const std::string> items, std::string_view metric);

/// A source of the same class, metric and parameters as `like` (a built-in vector source, e.g. a
/// fitted model's) over new rows, ready for check_compatible / append / cross_distance: seuclidean
/// and mahalanobis use like's V / VI rather than statistics of the new rows; for a sparse_source
/// the non-zero entries of the rows become a sparse_source (the CLI's add / predict). Throws
/// error(type_mismatch) when `like` is not a vector source, and what the constructor throws.
std::unique_ptr<data_source> make_vector_source_like(const data_source& like, std::span<const float> values,
                                                     std::size_t n, std::size_t dim);

}  // namespace chutoro
