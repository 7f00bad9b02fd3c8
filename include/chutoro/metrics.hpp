// chutoro — built-in sources for sets, bit vectors and inner products
// (the dense L2/L1/cosine and string sources are in data_source.hpp).
//
// Each is a final data_source the pipeline unwraps into an inlined kernel
// (src/core/distance_dispatch.hpp). HDBSCAN* needs a dissimilarity:
// d >= 0, d(i, i) = 0, d(i, j) = d(j, i). The triangle inequality is not
// required, but HNSW search (and so FISHDBC's candidate edges) assumes
// something close to a metric; with a non-metric, recall and the agreement
// with exact HDBSCAN* degrade, and `candidates = exact` stays correct.
// See docs/metrics.md for formulas, properties and references.
#pragma once

#include <chutoro/data_source.hpp>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace chutoro {

/// Jaccard distance between two sorted, duplicate-free id sets:
/// 1 - |a n b| / |a u b|, and 0 when both are empty. A metric. O(|a| + |b|).
[[nodiscard]] float jaccard_distance(std::span<const std::uint32_t> a,
                                     std::span<const std::uint32_t> b) noexcept;

/// Sets of uint32 ids under the Jaccard distance (metric name "jaccard").
/// Stored as CSR: item i is ids[offsets[i] .. offsets[i+1]).
class set_source final : public data_source {
 public:
  /// `offsets` has n + 1 entries, offsets[0] = 0, non-decreasing, offsets[n] =
  /// ids.size(); each item's ids strictly increasing (sorted, no duplicates).
  /// Empty sets are allowed (d(empty, empty) = 0, d(empty, non-empty) = 1).
  /// Throws error(invalid_argument) naming the item on any violation, or when n == 0.
  set_source(std::span<const std::uint32_t> ids, std::span<const std::size_t> offsets);
  /// As above, with the token vocabulary the ids number (id t is
  /// vocabulary[t]; see vocabulary()). Also throws error(invalid_argument)
  /// when an id is >= vocabulary.size() or a token is empty, holds ASCII
  /// whitespace or appears twice. An empty vocabulary means none.
  set_source(std::span<const std::uint32_t> ids, std::span<const std::size_t> offsets,
             std::vector<std::string> vocabulary);

  /// Token sets of text lines: each line is split at ASCII whitespace, tokens
  /// are numbered in order of first appearance, each line's ids are sorted and
  /// deduplicated. An empty or all-blank line is the empty set. O(total bytes).
  /// The result keeps its vocabulary (vocabulary()). With `vocabulary` (a
  /// model's, see vocabulary()), its tokens keep their ids and new tokens
  /// number on from vocabulary.size(), so the result can be added to or
  /// predicted against that model; its vocabulary() is `vocabulary` then the
  /// new tokens. Throws error(invalid_argument) for no lines, more than
  /// 2^32 - 1 tokens, or a duplicate token in `vocabulary`.
  static set_source from_token_lines(std::span<const std::string> lines,
                                     std::span<const std::string> vocabulary = {});

  /// The tokens the ids number (id t is vocabulary()[t]), when the source was
  /// made from text (from_token_lines) or loaded with one; empty when the ids
  /// came as numbers. append() keeps it when the appended source's vocabulary
  /// extends it (its tokens first, in the same order: from_token_lines with
  /// this vocabulary), and drops it otherwise (the ids no longer name known
  /// tokens). Stored in model files (format version 4).
  [[nodiscard]] std::span<const std::string> vocabulary() const noexcept { return vocabulary_; }

  [[nodiscard]] std::size_t size() const noexcept override { return offsets_.size() - 1; }
  [[nodiscard]] std::string name() const override { return "jaccard"; }
  [[nodiscard]] float distance(std::size_t i, std::size_t j) const override;
  [[nodiscard]] bool can_grow() const noexcept override { return true; }
  /// Compatible: another set_source. Ids are compared as they are: both sources must number
  /// their elements alike (two from_token_lines() sources number tokens independently).
  void check_compatible(const data_source& other) const override;
  [[nodiscard]] float cross_distance(const data_source& other, std::size_t i, std::size_t j) const override;
  void append(const data_source& other) override;
  void truncate(std::size_t n) noexcept override;

  /// Ids of item i (sorted, unique).
  [[nodiscard]] std::span<const std::uint32_t> item(std::size_t i) const noexcept {
    return {ids_.data() + offsets_[i], offsets_[i + 1] - offsets_[i]};
  }

 private:
  set_source() : data_source(source_kind::sets, builtin_key{}) {}
  std::vector<std::uint32_t> ids_;
  std::vector<std::size_t> offsets_;
  std::vector<std::string> vocabulary_;  // id -> token; empty: none
};

/// Metrics over packed bit vectors (stable values).
enum class bit_metric : int {
  hamming = 0,   ///< number of differing bits: popcount(x xor y). A metric.
  tanimoto = 1,  ///< 1 - popcount(x and y) / popcount(x or y); 0 when both are zero. A metric.
};
bit_metric parse_bit_metric(std::string_view name);  ///< "hamming" | "tanimoto"; else error(invalid_argument)
[[nodiscard]] std::string_view to_string(bit_metric m) noexcept;

/// n bit vectors of `nbits` bits each, stored as 64-bit words (rows padded with zero bits).
class bit_source final : public data_source {
 public:
  /// `packed` holds n rows of ceil(nbits / 8) bytes, row-major, bits in each
  /// byte most significant first (numpy.packbits' default order); bits past
  /// nbits in a row's last byte are ignored. Throws error(invalid_argument)
  /// when n == 0, nbits == 0 or the size does not match.
  bit_source(std::span<const std::uint8_t> packed, std::size_t n, std::size_t nbits, bit_metric metric);

  /// From a dense n x dim table whose values are all 0 or 1 (bit k = column k).
  /// Throws error(invalid_argument) naming the row and column of any other value.
  static bit_source from_dense(std::span<const float> values, std::size_t n, std::size_t dim,
                               bit_metric metric);

  [[nodiscard]] std::size_t size() const noexcept override { return n_; }
  [[nodiscard]] std::string name() const override { return std::string(to_string(metric_)); }
  [[nodiscard]] std::size_t dim() const noexcept override { return nbits_; }
  [[nodiscard]] float distance(std::size_t i, std::size_t j) const override;
  /// n x words() uint64 words (stride = cols = words()); bit k of a row as row() says.
  [[nodiscard]] std::optional<matrix_view> matrix() const noexcept override {
    return matrix_view{bits_.data(), n_, words_, words_, element_type::uint64};
  }
  [[nodiscard]] bool can_grow() const noexcept override { return true; }
  /// Compatible: another bit_source with the same metric and number of bits (dim()).
  void check_compatible(const data_source& other) const override;
  [[nodiscard]] float cross_distance(const data_source& other, std::size_t i, std::size_t j) const override;
  void append(const data_source& other) override;
  void truncate(std::size_t n) noexcept override;

  [[nodiscard]] bit_metric metric() const noexcept { return metric_; }
  [[nodiscard]] std::size_t words() const noexcept { return words_; }
  /// words() 64-bit words of row i; bit k of the row is bit (63 - k % 64) of word k / 64.
  [[nodiscard]] const std::uint64_t* row(std::size_t i) const noexcept { return bits_.data() + i * words_; }

 private:
  bit_source(std::size_t n, std::size_t nbits, bit_metric metric);
  std::size_t n_, nbits_, words_;
  bit_metric metric_;
  std::vector<std::uint64_t> bits_;
};

/// Inner-product metrics over dense float32 vectors (stable values).
enum class product_metric : int {
  /// max(0, 1 - <x, y>) (faiss/usearch "ip" as a distance). Not a metric and,
  /// unless every row has unit norm, not even a dissimilarity: d(x, x) =
  /// 1 - |x|^2 != 0, and pairs with <x, y> >= 1 all tie at 0 (the clamp keeps
  /// d >= 0 as the pipeline requires). For unit rows it equals cosine.
  inner_product = 0,
  /// arccos(<x, y> / (|x| |y|)) / pi in [0, 1]: the angle between the rows.
  /// A metric on directions (zero rows are rejected).
  angular = 1,
};
product_metric parse_product_metric(std::string_view name);  ///< "inner_product" | "angular"
[[nodiscard]] std::string_view to_string(product_metric m) noexcept;

/// Dense float32 n x dim rows (padded to 16 floats, zero tails) under a product metric.
class product_source final : public data_source {
 public:
  /// Throws error(invalid_argument) on n == 0, dim == 0, a size mismatch, a
  /// NaN/Inf value (naming row and column), for angular a zero row, and for
  /// inner_product a row whose squared norm passes 2^127 (then 1 - <x, y> could
  /// pass float32's range; naming the row). Rows are normalised (angular) and
  /// norms taken in double, so any other finite float32 values work, from
  /// subnormal to FLT_MAX (docs/metrics.md, "Extreme scales").
  product_source(std::span<const float> values, std::size_t n, std::size_t dim, product_metric metric);
  /// Rows already normalised (see rows_normalized_t), copied as they are. Angular rows must
  /// have unit norm (|norm^2 - 1| <= 1e-3), else error(invalid_argument) naming the row.
  product_source(std::span<const float> values, std::size_t n, std::size_t dim, product_metric metric,
                 rows_normalized_t);

  [[nodiscard]] std::size_t size() const noexcept override { return n_; }
  [[nodiscard]] std::string name() const override { return std::string(to_string(metric_)); }
  [[nodiscard]] std::size_t dim() const noexcept override { return dim_; }
  [[nodiscard]] float distance(std::size_t i, std::size_t j) const override;
  /// n x dim float32, stride() (a multiple of 16) floats per row (angular: unit rows).
  [[nodiscard]] std::optional<matrix_view> matrix() const noexcept override {
    return matrix_view{data_.data(), n_, dim_, stride_, element_type::float32};
  }
  [[nodiscard]] bool can_grow() const noexcept override { return true; }
  /// Compatible: another product_source with the same metric and dim().
  void check_compatible(const data_source& other) const override;
  [[nodiscard]] float cross_distance(const data_source& other, std::size_t i, std::size_t j) const override;
  void append(const data_source& other) override;
  void truncate(std::size_t n) noexcept override;

  [[nodiscard]] product_metric metric() const noexcept { return metric_; }
  [[nodiscard]] std::size_t stride() const noexcept { return stride_; }
  /// stride() floats of row i (angular: normalised to unit length).
  [[nodiscard]] const float* row(std::size_t i) const noexcept { return data_.data() + i * stride_; }

 private:
  void load_rows(std::span<const float> values, bool normalise);
  std::size_t n_, dim_, stride_;
  product_metric metric_;
  std::vector<float> data_;
};

/// Metrics over sparse float32 rows (stable values). The same formulas as the
/// dense metrics of the same names, so a sparse_source and a dense_source over
/// the same (densified) rows give the same distances up to rounding.
enum class sparse_metric : int {
  euclidean = 0,      ///< sqrt(sum (x_k - y_k)^2)
  cosine = 1,         ///< 1 - <x, y> / (|x| |y|); rows normalised at construction, zero rows rejected
  manhattan = 2,      ///< sum |x_k - y_k|
  inner_product = 3,  ///< max(0, 1 - <x, y>), as product_metric::inner_product
};
/// Parses a sparse metric's name or alias (metric_table.hpp: the rows with a sparse value);
/// error(invalid_argument) listing the choices otherwise.
sparse_metric parse_sparse_metric(std::string_view name);
[[nodiscard]] std::string_view to_string(sparse_metric m) noexcept;

/// One row of a sparse_source: nnz (column, value) pairs, columns strictly increasing.
struct sparse_row {
  const std::uint32_t* indices;
  const float* values;
  std::size_t nnz;
};

/// n sparse float32 rows of n_features columns in CSR form (scipy.sparse.csr_matrix's
/// indptr / indices / data), e.g. TF-IDF vectors: row i holds the values
/// values[indptr[i] .. indptr[i+1]) at the columns indices[indptr[i] .. indptr[i+1]),
/// every other entry is zero. Distances merge the two rows' sorted column lists
/// (O(nnz(x) + nnz(y)) per pair, sums in double, rounded to float32); the
/// results equal the dense metric's on the densified rows up to float rounding.
///
/// Validated at construction (error(invalid_argument), "sparse_source: ..." naming
/// the row, and the column or indptr entry): n >= 1, 1 <= n_features <= 2^32 - 1,
/// indptr.size() == n + 1, indptr[0] == 0, indptr non-decreasing, indptr[n] ==
/// indices.size() == values.size(), each column in [0, n_features), no column twice
/// in a row (sum duplicates first: scipy's X.sum_duplicates()), finite values; under
/// cosine no zero row; under euclidean / manhattan every row's sum |x_k| <= 2^126
/// and under inner_product every row's squared norm <= 2^127, so distances fit
/// float32. Rows whose columns are not sorted are sorted in the copy (scipy's
/// has_sorted_indices = False is accepted). Explicit zeros are kept (they change no distance).
/// Copies its input; grows (append) like the other built-in sources.
/// Thread safety: distance() and cross_distance() may run concurrently.
class sparse_source final : public data_source {
 public:
  sparse_source(std::span<const std::int64_t> indptr, std::span<const std::int64_t> indices,
                std::span<const float> values, std::size_t n_features, sparse_metric metric);
  sparse_source(std::span<const std::int32_t> indptr, std::span<const std::int32_t> indices,
                std::span<const float> values, std::size_t n_features, sparse_metric metric);
  /// Rows as a sparse_source stores them (values()), copied bit for bit (a saved model).
  /// Cosine rows must have unit norm (|norm^2 - 1| <= 1e-3), else error(invalid_argument).
  sparse_source(std::span<const std::int64_t> indptr, std::span<const std::int64_t> indices,
                std::span<const float> values, std::size_t n_features, sparse_metric metric,
                rows_normalized_t);

  [[nodiscard]] std::size_t size() const noexcept override { return indptr_.size() - 1; }
  [[nodiscard]] std::string name() const override { return std::string(to_string(metric_)); }
  /// n_features.
  [[nodiscard]] std::size_t dim() const noexcept override { return dim_; }
  [[nodiscard]] float distance(std::size_t i, std::size_t j) const override;
  [[nodiscard]] bool can_grow() const noexcept override { return true; }
  /// Compatible: another sparse_source with the same metric and n_features.
  void check_compatible(const data_source& other) const override;
  [[nodiscard]] float cross_distance(const data_source& other, std::size_t i, std::size_t j) const override;
  void append(const data_source& other) override;
  void truncate(std::size_t n) noexcept override;

  [[nodiscard]] sparse_metric metric() const noexcept { return metric_; }
  /// Row i (cosine: normalised to unit length).
  [[nodiscard]] sparse_row row(std::size_t i) const noexcept {
    const std::size_t b = indptr_[i];
    return {indices_.data() + b, values_.data() + b, static_cast<std::size_t>(indptr_[i + 1] - b)};
  }
  /// The CSR arrays as stored: size() + 1 offsets, then nnz columns and values.
  [[nodiscard]] std::span<const std::uint64_t> indptr() const noexcept { return indptr_; }
  [[nodiscard]] std::span<const std::uint32_t> indices() const noexcept {
    return {indices_.data(), static_cast<std::size_t>(indptr_.back())};
  }
  [[nodiscard]] std::span<const float> values() const noexcept {
    return {values_.data(), static_cast<std::size_t>(indptr_.back())};
  }

 private:
  template <class I>
  void load(std::span<const I> indptr, std::span<const I> indices, std::span<const float> values,
            bool normalise);
  std::size_t dim_;
  sparse_metric metric_;
  std::vector<std::uint64_t> indptr_;
  std::vector<std::uint32_t> indices_;
  std::vector<float> values_;
};

/// Calls f(source) with `data` as its concrete built-in class (const
/// dense_source&, string_source&, set_source&, bit_source&, product_source&,
/// sparse_source&), chosen by data.kind(), or f(data) as the data_source it is for external
/// sources. f must accept all seven and return the same type for each.
/// The one place that turns a source kind into its class (distance dispatch,
/// model files, the Python module use it). O(1), no dynamic_cast.
template <class F>
decltype(auto) visit_source(const data_source& data, F&& f) {
  switch (data.kind()) {
    case source_kind::dense:
      return f(static_cast<const dense_source&>(data));
    case source_kind::strings:
      return f(static_cast<const string_source&>(data));
    case source_kind::sets:
      return f(static_cast<const set_source&>(data));
    case source_kind::bits:
      return f(static_cast<const bit_source&>(data));
    case source_kind::products:
      return f(static_cast<const product_source&>(data));
    case source_kind::sparse:
      return f(static_cast<const sparse_source&>(data));
    case source_kind::external:
      break;
  }
  return f(data);
}

}  // namespace chutoro
