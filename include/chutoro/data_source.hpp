// chutoro — the data_source interface and the built-in sources.
//
// The HNSW graph and the exact all-pairs oracle address items by id only
// (faiss DistanceComputer style), so any item type works: dense vectors,
// variable-length strings, user plugins. A source owns its items and defines a
// dissimilarity d(i, j) >= 0 with d(i, i) = 0 and d(i, j) = d(j, i). HDBSCAN*
// (Campello et al. 2013) assumes such a dissimilarity; the triangle inequality
// is not required, but HNSW recall degrades for non-metrics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chutoro {

/// A pair of item ids, each in [0, size()).
struct index_pair {
  std::uint32_t a;
  std::uint32_t b;
};

/// The concrete kind of a data source (stable values: the model file's DATA
/// section stores them, docs/model_format.md). `external` is every source not
/// built into chutoro (plugins, Python's precomputed and callable sources,
/// user classes); the others name the six built-in classes.
enum class source_kind : int {
  external = 0,
  dense = 1,     ///< dense_source
  strings = 2,   ///< string_source
  sets = 3,      ///< set_source (metrics.hpp)
  bits = 4,      ///< bit_source (metrics.hpp)
  products = 5,  ///< product_source (metrics.hpp)
  sparse = 6,    ///< sparse_source (metrics.hpp)
};
/// "external", "dense", "strings", "sets", "bits", "products", "sparse".
[[nodiscard]] std::string_view to_string(source_kind k) noexcept;

/// Element type of a matrix_view (stable values).
enum class element_type : int {
  float32 = 0,  ///< IEEE 754 binary32
  uint64 = 1,   ///< 64-bit words of packed bits (bit_source)
};

/// A read-only row-major view of a source's items as a matrix, for code that
/// hands whole rows to a kernel or uploads them to a device: row i starts at
/// element i * stride of `data` and holds `cols` meaningful elements; the
/// elements from cols to stride - 1 are padding (zero). The view is valid
/// until the source changes (append, truncate) or is destroyed.
struct matrix_view {
  const void* data = nullptr;  ///< the first row; aligned to the element type (dense: 64 bytes)
  std::size_t rows = 0;        ///< = the source's size()
  std::size_t cols = 0;        ///< elements per row with values (dense: dim; bits: 64-bit words)
  std::size_t stride = 0;      ///< elements from one row's start to the next, >= cols
  element_type dtype = element_type::float32;

  /// Row i as T (T must match dtype: float for float32, std::uint64_t for uint64).
  template <class T>
  [[nodiscard]] const T* row(std::size_t i) const noexcept {
    return static_cast<const T*>(data) + i * stride;
  }
};

class dense_source;
class string_source;
class set_source;
class bit_source;
class product_source;
class sparse_source;

/// Abstract data source. Implementations must make distance() and
/// distance_batch() safe to call concurrently from several threads.
class data_source {
 public:
  data_source() noexcept = default;
  virtual ~data_source() = default;
  /// The concrete kind: external for every source but chutoro's six built-in
  /// classes, which alone can set another kind (their constructors hold the
  /// key). The pipeline unwraps a built-in source by its kind into an inlined
  /// kernel (visit_source in metrics.hpp); not virtual, so a subclass cannot
  /// claim a kind it does not have. Thread safe.
  [[nodiscard]] source_kind kind() const noexcept { return kind_; }
  /// The items as a row-major matrix (see matrix_view) when the source stores
  /// them so: dense_source and product_source (float32 rows padded to 16
  /// floats), bit_source (64-bit words); empty for every other source. The
  /// pipeline reads the rows of built-in sources through it (distance kernels,
  /// distance tiles, device uploads); overriding it elsewhere changes nothing.
  /// Thread safe (const).
  [[nodiscard]] virtual std::optional<matrix_view> matrix() const noexcept { return std::nullopt; }
  /// Number of items n. Ids are 0..n-1.
  [[nodiscard]] virtual std::size_t size() const noexcept = 0;
  /// Name of the distance, e.g. "euclidean", "levenshtein".
  [[nodiscard]] virtual std::string name() const = 0;
  /// Dimension of dense items, 0 for items without one (strings, plugins).
  [[nodiscard]] virtual std::size_t dim() const noexcept { return 0; }
  /// d(i, j) >= 0. Ids are not range-checked (callers guarantee i, j < size()).
  [[nodiscard]] virtual float distance(std::size_t i, std::size_t j) const = 0;
  /// out[k] = distance(pairs[k].a, pairs[k].b); out.size() == pairs.size().
  /// The default loops over distance(); sources with a faster batch path override it.
  virtual void distance_batch(std::span<const index_pair> pairs, std::span<float> out) const;

  // ---- growth: adding items, and distances to items of another source ----
  // Lets a fitted model take new items (model::add) and measure items that are
  // not in it (model::approximate_predict). `other` holds the new items: a
  // source of the same concrete kind, metric and dimension, built the same way
  // (cosine/angular rows normalised at construction).

  /// Whether append() and cross_distance() work for this source (the built-in sources: true).
  [[nodiscard]] virtual bool can_grow() const noexcept { return false; }
  /// Throws error(type_mismatch) naming both sources (name(), kind, dim) unless `other` is of
  /// the same concrete kind, metric and dimension as this source, so that append() and
  /// cross_distance() accept it. Default (sources that cannot grow): error(unsupported)
  /// "data source '<name>' cannot ... (only built-in sources can grow / measure outside items)".
  /// Thread safe (const).
  virtual void check_compatible(const data_source& other) const;
  /// d(item i of `other`, item j of this source), the same value distance() would give if
  /// `other`'s item were appended: bit for bit distance(size() + i, j) after append(other),
  /// through the same kernel. Precondition: check_compatible(other) passed; ids not
  /// range-checked (i < other.size(), j < size()). Thread safe (const). Default: error(unsupported).
  [[nodiscard]] virtual float cross_distance(const data_source& other, std::size_t i, std::size_t j) const;
  /// Appends `other`'s items after this source's own (they get ids size()..size()+other.size()-1);
  /// `other` may be this source itself. Calls check_compatible first. Strong guarantee: on
  /// error (type_mismatch, or std::bad_alloc) nothing changes. Amortised O(other's items):
  /// storage grows geometrically. Invalidates pointers/spans returned by row()/item().
  /// Not thread safe: no other call on this source may run concurrently. Default: error(unsupported).
  virtual void append(const data_source& other);
  /// Removes the items with ids >= n, undoing append()s (n >= size(): nothing changes);
  /// keeps the storage for later appends. Built-in sources never throw (a rollback after a
  /// failed step that followed append()). Not thread safe. Default: error(unsupported).
  virtual void truncate(std::size_t n);

 protected:
  /// Lets the six built-in classes, and only them, construct a source of another kind.
  class builtin_key {
    builtin_key() = default;
    friend class dense_source;
    friend class string_source;
    friend class set_source;
    friend class bit_source;
    friend class product_source;
    friend class sparse_source;
  };
  data_source(source_kind kind, builtin_key) noexcept : kind_(kind) {}

 private:
  source_kind kind_ = source_kind::external;
};

/// Tag for the dense_source / product_source constructors: the values are rows
/// exactly as such a source stores them (row() of a cosine dense_source or an
/// angular product_source is already normalised, e.g. read back from a saved
/// model). They are copied bit for bit instead of being normalised again, so
/// distances are bit-identical to the source they came from.
struct rows_normalized_t {
  explicit rows_normalized_t() = default;
};
inline constexpr rows_normalized_t rows_normalized{};

/// Built-in dense metrics (stable values, shared with the C ABI, Python and
/// model files). The names, aliases and parameters of every built-in metric
/// are listed once, in metric_table.hpp.
enum class dense_metric : int {
  euclidean = 0,
  cosine = 1,
  manhattan = 2,
  chebyshev = 3,    ///< max_k |x_k - y_k|
  minkowski = 4,    ///< (sum |x_k - y_k|^p)^(1/p); params = {p}, p > 0
  seuclidean = 5,   ///< sqrt(sum (x_k - y_k)^2 / V_k); params = V (dim variances > 0)
  mahalanobis = 6,  ///< sqrt((x - y)^T VI (x - y)); params = VI (dim x dim, row-major)
  canberra = 7,     ///< sum |x_k - y_k| / (|x_k| + |y_k|), a 0/0 term counting 0
  braycurtis = 8,   ///< sum |x_k - y_k| / sum |x_k + y_k|; 0 when the denominator is 0
};

/// Parses a dense metric's canonical name or alias (metric_table.hpp); throws
/// error(invalid_argument) listing the choices otherwise.
dense_metric parse_dense_metric(std::string_view name);
[[nodiscard]] std::string_view to_string(dense_metric m) noexcept;

/// Dense float32 matrix, n x dim, row-major, copied into rows padded to a
/// multiple of 16 floats and aligned to 64 bytes.
///  - euclidean: sqrt(sum (x_k - y_k)^2)
///  - manhattan: sum |x_k - y_k|
///  - cosine:    1 - <x, y> / (|x| |y|), rows are normalised once at
///               construction (in double); a zero row is rejected (cosine is undefined there).
/// Any finite float32 values work, from subnormal to FLT_MAX: euclidean pairs
/// whose float32 sum of squares overflows or underflows are measured again in
/// double (docs/metrics.md, "Extreme scales"). Distances must fit float32:
/// euclidean and manhattan rows whose bounding box reaches further than 2^127
/// (its diagonal, or the sum of its sides) are refused.
/// Throws error(invalid_argument) on n == 0, dim == 0, values.size() != n*dim,
/// a NaN/Inf value (the message names the row and column), or distances that
/// could pass 2^127 (naming the widest column and the rows at its ends).
/// Grows (append) with geometric capacity; every row stays padded and 64-byte aligned.
///
/// The other metrics (scipy.spatial.distance's formulas, computed in double
/// and rounded to float32):
///  - chebyshev, canberra, braycurtis: no parameters.
///  - minkowski: params = {p}, p > 0 (p < 1 is not a metric: HNSW recall degrades).
///  - seuclidean: params = V, dim variances > 0; empty: the column variances of
///    these rows (ddof = 1, as scipy's pdist; needs n >= 2). Rows are stored
///    divided by sqrt(V) and measured as euclidean.
///  - mahalanobis: params = VI, the dim x dim inverse covariance, row-major,
///    symmetric positive definite; empty: the inverse of these rows' covariance
///    (as scipy's pdist; needs a non-singular covariance). Rows are stored as
///    L^T x where VI = L L^T (Cholesky) and measured as euclidean.
/// params() keeps the parameters used (computed ones included), so new items
/// (append, cross_distance, a saved model) are measured alike; check_compatible
/// requires equal parameters. Wrong parameters: error(invalid_argument) naming
/// the metric, the parameter and the problem.
class dense_source final : public data_source {
 public:
  dense_source(std::span<const float> values, std::size_t n, std::size_t dim, dense_metric metric,
               std::span<const double> params = {});
  /// Rows already normalised (see rows_normalized_t), copied as they are. Cosine rows must
  /// have unit norm (|norm^2 - 1| <= 1e-3), else error(invalid_argument) naming the row.
  /// seuclidean / mahalanobis rows are the stored, transformed ones; `params` must be given.
  dense_source(std::span<const float> values, std::size_t n, std::size_t dim, dense_metric metric,
               rows_normalized_t, std::span<const double> params = {});
  ~dense_source() override;
  dense_source(const dense_source&) = delete;
  dense_source& operator=(const dense_source&) = delete;

  [[nodiscard]] std::size_t size() const noexcept override { return n_; }
  [[nodiscard]] std::string name() const override { return std::string(to_string(metric_)); }
  [[nodiscard]] std::size_t dim() const noexcept override { return dim_; }
  [[nodiscard]] float distance(std::size_t i, std::size_t j) const override;
  /// distance() for each pair, bit for bit; euclidean, cosine and manhattan (and seuclidean,
  /// mahalanobis) measure each run of pairs sharing their first item with the blocked
  /// one-row-against-many SIMD kernel. Thread safe.
  void distance_batch(std::span<const index_pair> pairs, std::span<float> out) const override;
  /// n x dim float32, stride() (a multiple of 16) floats per row, 64-byte aligned rows.
  [[nodiscard]] std::optional<matrix_view> matrix() const noexcept override {
    return matrix_view{data_, n_, dim_, stride_, element_type::float32};
  }
  [[nodiscard]] bool can_grow() const noexcept override { return true; }
  /// Compatible: another dense_source with the same metric and dim() (else error(type_mismatch)),
  /// whose rows lie close enough to this source's that no distance between the two
  /// passes 2^127 (euclidean, manhattan; else error(invalid_argument) naming the column and rows).
  void check_compatible(const data_source& other) const override;
  [[nodiscard]] float cross_distance(const data_source& other, std::size_t i, std::size_t j) const override;
  void append(const data_source& other) override;
  void truncate(std::size_t n) noexcept override;

  [[nodiscard]] dense_metric metric() const noexcept { return metric_; }
  /// The metric's parameters as described above (empty for metrics without any).
  [[nodiscard]] std::span<const double> params() const noexcept { return params_; }
  /// Padded row stride in floats (a multiple of 16).
  [[nodiscard]] std::size_t stride() const noexcept { return stride_; }
  /// Pointer to row i (stride() floats, the tail beyond dim() is zero).
  [[nodiscard]] const float* row(std::size_t i) const noexcept { return data_ + i * stride_; }

 private:
  void load_rows(std::span<const float> values, bool normalise);
  /// Checks params_ against the metric; computes the defaults (seuclidean, mahalanobis) from
  /// `values` when `compute` and none were given, and the row transform chol_.
  void prepare_params(std::span<const float> values, bool compute);
  /// Applies seuclidean's / mahalanobis' transform to one row (dim_ floats) in place, with
  /// `scratch` dim_ doubles; false when a value leaves the float32 range.
  bool transform_row(float* row, double* scratch) const noexcept;
  /// Widens lo_/hi_ by rows [from, n_); from == 0 recomputes them.
  void update_bounds(std::size_t from) noexcept;
  std::size_t n_, dim_, stride_;
  dense_metric metric_;
  float* data_ = nullptr;  // 64-byte aligned, owned; capacity_ rows, the first n_ in use
  std::size_t capacity_ = 0;
  std::vector<float> lo_, hi_;  // dim_ values: each column's smallest and largest value over the n_ rows
  std::vector<double> params_;  // minkowski {p}, seuclidean V, mahalanobis VI; else empty
  std::vector<double> chol_;  // seuclidean: 1 / sqrt(V); mahalanobis: L^T (dim x dim, row-major), VI = L L^T
};

/// UTF-8 strings under the Levenshtein distance over Unicode code points
/// (unit costs for insertion, deletion, substitution). Strings are decoded
/// once at construction; invalid UTF-8 is rejected naming the item index.
class string_source final : public data_source {
 public:
  explicit string_source(std::span<const std::string> items);
  [[nodiscard]] std::size_t size() const noexcept override { return offsets_.size() - 1; }
  [[nodiscard]] std::string name() const override { return "levenshtein"; }
  [[nodiscard]] float distance(std::size_t i, std::size_t j) const override;
  [[nodiscard]] bool can_grow() const noexcept override { return true; }
  /// Compatible: another string_source.
  void check_compatible(const data_source& other) const override;
  [[nodiscard]] float cross_distance(const data_source& other, std::size_t i, std::size_t j) const override;
  void append(const data_source& other) override;
  void truncate(std::size_t n) noexcept override;

  /// Code points of item i.
  [[nodiscard]] std::span<const char32_t> item(std::size_t i) const noexcept {
    return {codepoints_.data() + offsets_[i], offsets_[i + 1] - offsets_[i]};
  }

 private:
  std::vector<char32_t> codepoints_;
  std::vector<std::size_t> offsets_;
};

/// Levenshtein distance between two code-point sequences. O(|a| |b|) time,
/// O(min(|a|, |b|)) memory. Thread safe.
std::uint32_t levenshtein(std::span<const char32_t> a, std::span<const char32_t> b);

/// Decodes UTF-8; throws error(parse) naming `what` and the byte offset on invalid input.
std::vector<char32_t> decode_utf8(std::string_view s, std::string_view what);

/// Encodes code points as UTF-8, appending to `out`. The code points must be
/// valid Unicode scalar values (as decode_utf8 and string_source give). Thread safe.
void encode_utf8(std::span<const char32_t> code_points, std::string& out);

}  // namespace chutoro
