// chutoro — the model file (docs/model_format.md): a header and checksummed
// sections, written atomically. Everything is little-endian; a file written
// on a machine of the other byte order is rejected by its endianness marker.
#include <algorithm>
#include <bit>
#include <charconv>
#include <chutoro/error.hpp>
#include <chutoro/metrics.hpp>
#include <chutoro/model.hpp>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <system_error>
#include <tuple>
#include <type_traits>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "core/model/model_impl.hpp"
#include "core/mst/union_find.hpp"
#include "io/io_common.hpp"

namespace chutoro {

namespace {

static_assert(std::endian::native == std::endian::little, "the model file format is little-endian");

constexpr char kMagic[8] = {'C', 'H', 'U', 'T', 'O', 'R', 'O', '\x1a'};
constexpr std::uint32_t kFormatVersion = 4;
// Version 4 adds the token vocabulary of a sets (jaccard) source after its
// items in DATA; older files have none (read as an empty vocabulary).
// Version 1 lacks PARM's last three fields (max_cluster_size,
// cluster_selection_persistence, cluster_selection_epsilon_max): read with their defaults.
// Versions 1 and 2 store HNSW's layer-0 lists padded to 2m links; version 3
// their filled links only. Since version 3 a fit or add ends with a lossless
// compaction of the candidate edges (candidate_graph::finish_and_compact),
// so FRST holds few buffered edges; loading an older file compacts it so.
constexpr std::uint32_t kOldestFormatVersion = 1;
constexpr std::uint32_t kEndianMarker = 0x01020304u;

constexpr std::uint32_t tag(const char (&s)[5]) {
  return std::uint32_t(std::uint8_t(s[0])) | std::uint32_t(std::uint8_t(s[1])) << 8 |
         std::uint32_t(std::uint8_t(s[2])) << 16 | std::uint32_t(std::uint8_t(s[3])) << 24;
}
constexpr std::uint32_t kParams = tag("PARM"), kData = tag("DATA"), kGraph = tag("HNSW"), kKnn = tag("KNNS"),
                        kForest = tag("FRST"), kTree = tag("TREE");

// ---- writing ---------------------------------------------------------------

/// Appends bytes to a vector; sections are patched with their length and
/// followed by the XXH64 of their payload.
class writer {
 public:
  explicit writer(std::vector<std::byte>& out) : out_(out) {}

  void raw(const void* p, std::size_t n) {
    if (n == 0) return;
    const auto* b = static_cast<const std::byte*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  template <class T>
  void put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    raw(&v, sizeof v);
  }
  template <class T>
  void array(std::span<const T> v) {
    put<std::uint64_t>(v.size());
    raw(v.data(), v.size_bytes());
  }
  void string(std::string_view s) {
    put<std::uint64_t>(s.size());
    raw(s.data(), s.size());
  }

  void begin_section(std::uint32_t t) {
    put(t);
    put<std::uint32_t>(0);
    section_ = out_.size();
    put<std::uint64_t>(0);  // length, patched by end_section
  }
  void end_section() {
    const std::size_t start = section_ + sizeof(std::uint64_t);
    const std::uint64_t len = out_.size() - start;
    std::memcpy(out_.data() + section_, &len, sizeof len);
    // The checksum covers the section's header (tag, reserved, length) too.
    put<std::uint64_t>(XXH64(out_.data() + section_ - 8, len + 16, 0));
    ++sections_;
  }
  [[nodiscard]] std::uint32_t sections() const noexcept { return sections_; }

 private:
  std::vector<std::byte>& out_;
  std::size_t section_ = 0;
  std::uint32_t sections_ = 0;
};

/// Fingerprint of a source whose items are not stored: XXH64 of its name, its
/// size and up to 4096 distances between deterministically chosen pairs.
std::uint64_t fingerprint(const data_source& d) {
  const std::size_t n = d.size();
  std::vector<float> values;
  if (n >= 2)
    for (std::size_t t = 0; t < 4096 && t < n * (n - 1); ++t) {
      const std::size_t i = (t * 7919u) % n, j = (t * 104729u + 1 + t / n) % n;
      if (i != j) values.push_back(d.distance(i, j));
    }
  const std::string name = d.name();
  const std::uint64_t n64 = n;
  std::vector<std::byte> buf(name.size() + sizeof n64 + values.size() * sizeof(float));
  std::memcpy(buf.data(), name.data(), name.size());
  std::memcpy(buf.data() + name.size(), &n64, sizeof n64);
  if (!values.empty())
    std::memcpy(buf.data() + name.size() + sizeof n64, values.data(), values.size() * sizeof(float));
  const std::uint64_t h = XXH64(buf.data(), buf.size(), 0);
  return h;
}

template <class Row>
void put_rows(writer& w, std::size_t n, std::size_t dim, Row row) {
  for (std::size_t i = 0; i < n; ++i) w.raw(row(i), dim * sizeof(float));
}

/// The DATA section's kind field: data_source::kind()'s stable value.
void put_kind(writer& w, const data_source& d) { w.put(static_cast<std::uint32_t>(d.kind())); }

void write_data(writer& w, const data_source& d) {
  w.begin_section(kData);
  const std::uint64_t n = d.size();
  visit_source(d, [&](const auto& s) {
    using S = std::remove_cvref_t<decltype(s)>;
    put_kind(w, s);
    if constexpr (std::is_same_v<S, dense_source> || std::is_same_v<S, product_source>) {
      w.put(static_cast<std::uint32_t>(s.metric())), w.put(n), w.put<std::uint64_t>(s.dim());
      const matrix_view v = *s.matrix();
      put_rows(w, n, v.cols, [&](std::size_t i) { return v.template row<float>(i); });
      if constexpr (std::is_same_v<S, dense_source>) {
        // The metric's parameters (minkowski, seuclidean, mahalanobis) after the rows.
        if (!s.params().empty()) w.array(s.params());
      }
    } else if constexpr (std::is_same_v<S, string_source>) {
      w.put<std::uint32_t>(0), w.put(n), w.put<std::uint64_t>(0);
      std::string utf8;
      for (std::size_t i = 0; i < n; ++i) {
        utf8.clear();
        encode_utf8(s.item(i), utf8);
        w.string(utf8);
      }
    } else if constexpr (std::is_same_v<S, set_source>) {
      w.put<std::uint32_t>(0), w.put(n), w.put<std::uint64_t>(0);
      for (std::size_t i = 0; i < n; ++i) w.array(s.item(i));
      // Version 4: the token vocabulary (count 0: none), so text can be numbered as the model's.
      w.put<std::uint64_t>(s.vocabulary().size());
      for (const std::string& token : s.vocabulary()) w.string(token);
    } else if constexpr (std::is_same_v<S, bit_source>) {
      w.put(static_cast<std::uint32_t>(s.metric())), w.put(n), w.put<std::uint64_t>(s.dim());
      const matrix_view v = *s.matrix();  // stride == cols: the rows are contiguous
      w.raw(v.data, n * v.stride * sizeof(std::uint64_t));
    } else if constexpr (std::is_same_v<S, sparse_source>) {
      w.put(static_cast<std::uint32_t>(s.metric())), w.put(n), w.put<std::uint64_t>(s.dim());
      w.array(s.indptr()), w.array(s.indices()), w.array(s.values());
    } else {
      w.put<std::uint32_t>(0), w.put(n), w.put<std::uint64_t>(s.dim());
      w.string(s.name());
      w.put(fingerprint(s));
    }
  });
  w.end_section();
}

// ---- reading ---------------------------------------------------------------

std::string bytes_text(std::uint64_t n) { return std::to_string(n) + (n == 1 ? " byte" : " bytes"); }

template <class T>
std::string number_text(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(v)) return "NaN";
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
  } else {
    return std::to_string(v);
  }
}

/// A section's name in messages: its tag, quoted and escaped when not 4 printable ASCII bytes.
std::string tag_text(std::uint32_t t) {
  char s[4];
  std::memcpy(s, &t, sizeof s);
  for (const char c : s)
    if (c < 32 || c > 126) return io_detail::quote_text(std::string_view(s, sizeof s));
  return std::string(s, sizeof s);
}

/// Bounds-checked reads from the file's bytes. Every failure is error(parse)
/// "<what>: section <TAG>: <problem>", naming the field, its value and the
/// allowed range; offsets count bytes from the start of the file. Nothing is
/// allocated for a count before the bytes it promises are known to be there.
class reader {
 public:
  reader(std::span<const std::byte> b, std::string what) : b_(b), what_(std::move(what)), end_(b.size()) {}

  [[noreturn]] void fail(const std::string& problem) const { fail_in(section_, problem); }
  [[noreturn]] void fail_in(const std::string& section, const std::string& problem) const {
    throw error(error_code::parse,
                what_ + ": " + (section.empty() ? "" : "section " + section + ": ") + problem);
  }

  /// Fails unless `n` bytes of `field` follow the current offset.
  void need(std::uint64_t n, const std::string& field) const {
    if (n > end_ - pos_) fail("truncated: " + field + " needs " + bytes_text(n) + where_left());
  }
  void raw(void* p, std::size_t n, const std::string& field) {
    need(n, field);
    if (n == 0) return;  // p may be an empty vector's null data()
    std::memcpy(p, b_.data() + pos_, n);
    pos_ += n;
  }
  template <class T>
  T get(const std::string& field) {
    T v;
    raw(&v, sizeof v, "field " + field);
    return v;
  }
  /// `problem` when v is outside [lo, hi] (NaN is outside any range).
  template <class T>
  void check_range(const std::string& field, T v, T lo, T hi, const std::string& note = "") const {
    if (!(v >= lo && v <= hi))
      fail("field " + field + " = " + number_text(v) + " is out of range [" + number_text(lo) + ", " +
           number_text(hi) + "]" + (note.empty() ? "" : " (" + note + ")"));
  }
  /// A field that must lie in [lo, hi]; `note` says what the range means.
  template <class T>
  T in_range(const std::string& field, T lo, T hi, const std::string& note = "") {
    const T v = get<T>(field);
    check_range(field, v, lo, hi, note);
    return v;
  }
  /// A u64 field that must equal `want`, described by `what_want`.
  void equal(const std::string& field, std::uint64_t want, const std::string& what_want) {
    const auto v = get<std::uint64_t>(field);
    if (v != want)
      fail("field " + field + " = " + std::to_string(v) + " differs from " + std::to_string(want) + ", " +
           what_want);
  }
  /// A u64 count of `size`-byte elements of `field` that must fit in what is left of the section.
  std::size_t count(std::size_t size, const std::string& field) {
    const auto c = get<std::uint64_t>(field + " count");
    if (size > 0 && c > (end_ - pos_) / size)
      fail("truncated: field " + field + " count = " + std::to_string(c) + " needs " + std::to_string(c) +
           " x " + bytes_text(size) + where_left());
    return static_cast<std::size_t>(c);
  }
  template <class T>
  std::vector<T> array(const std::string& field) {
    std::vector<T> v(count(sizeof(T), field));
    raw(v.data(), v.size() * sizeof(T), "field " + field);
    return v;
  }
  /// `n` elements of `field` with no count in the file.
  template <class T>
  std::vector<T> fixed(std::uint64_t n, const std::string& field) {
    if (n > (end_ - pos_) / sizeof(T))
      fail("truncated: field " + field + " needs " + std::to_string(n) + " x " + bytes_text(sizeof(T)) +
           where_left());
    std::vector<T> v(static_cast<std::size_t>(n));
    raw(v.data(), v.size() * sizeof(T), "field " + field);
    return v;
  }
  std::string string(const std::string& field) {
    std::string s(count(1, field), '\0');
    raw(s.data(), s.size(), "field " + field);
    return s;
  }
  [[nodiscard]] std::size_t left() const noexcept { return end_ - pos_; }
  /// The file's format version (after header()).
  [[nodiscard]] std::uint32_t version() const noexcept { return version_; }

  /// Reads the header; returns the number of sections.
  std::uint32_t header() {
    section_ = "header";
    const std::size_t size = b_.size();
    const std::size_t magic_bytes = std::min<std::size_t>(size, sizeof kMagic);
    if (magic_bytes > 0 && std::memcmp(b_.data(), kMagic, magic_bytes) != 0)
      fail("not a chutoro model file (it does not start with the magic bytes \"CHUTORO\\x1a\")");
    if (size < 32)
      fail("truncated: the file is " + bytes_text(size) + " long, too short for the 32-byte header" +
           (size == 0 ? " (the file is empty)" : ""));
    pos_ = sizeof kMagic;
    const auto version = get<std::uint32_t>("version");
    const auto endian = get<std::uint32_t>("endianness");
    if (endian == 0x04030201u) fail("written on a big-endian machine; this build reads little-endian files");
    if (endian != kEndianMarker)
      fail("field endianness = " + std::to_string(endian) + " is neither 0x01020304 nor 0x04030201");
    if (version < kOldestFormatVersion || version > kFormatVersion)
      fail("format version " + std::to_string(version) + ", this build reads versions " +
           std::to_string(kOldestFormatVersion) + " to " + std::to_string(kFormatVersion));
    version_ = version;
    const auto sections = get<std::uint32_t>("sections");
    const auto reserved = get<std::uint32_t>("reserved");
    const auto sum = get<std::uint64_t>("checksum");
    if (sum != XXH64(b_.data(), 24, 0)) fail("checksum mismatch (the header bytes are corrupted)");
    if (reserved != 0) fail("field reserved = " + std::to_string(reserved) + " is not 0");
    check_range<std::uint32_t>("sections", sections, 3, 5, "3 for an exact model, 5 for an hnsw model");
    section_.clear();
    return sections;
  }

  /// Opens the next section, which must be `want`, and checks its length and checksum.
  void next_section(std::uint32_t want) {
    section_ = tag_text(want);
    in_payload_ = false;
    end_ = b_.size();
    const std::size_t start = pos_;
    need(16, "the section header (tag, reserved, length)");
    const auto t = get<std::uint32_t>("tag");
    if (t != want)
      fail("expected section " + tag_text(want) + " at offset " + std::to_string(start) + ", found tag " +
           tag_text(t) + " (the sections are PARM, DATA, then HNSW, KNNS, FRST or TREE)");
    const auto reserved = get<std::uint32_t>("reserved");
    if (reserved != 0) fail("field reserved = " + std::to_string(reserved) + " is not 0");
    const auto len = get<std::uint64_t>("length");
    const std::uint64_t have = b_.size() - pos_;
    if (len > have || have - len < 8) {
      if (len > std::numeric_limits<std::uint64_t>::max() - 8)
        fail("field length = " + std::to_string(len) + " is more than the file holds (" +
             bytes_text(b_.size()) + ")");
      fail("truncated: the " + std::to_string(len) + "-byte payload and its 8-byte checksum need " +
           bytes_text(len + 8) + " from offset " + std::to_string(pos_) + ", but the file ends at offset " +
           std::to_string(b_.size()) + " (" + bytes_text(len + 8 - have) + " short)");
    }
    std::uint64_t sum;
    std::memcpy(&sum, b_.data() + pos_ + len, 8);
    if (sum != XXH64(b_.data() + start, static_cast<std::size_t>(len) + 16, 0))
      fail("checksum mismatch (the section's bytes are corrupted)");
    end_ = pos_ + static_cast<std::size_t>(len);
    in_payload_ = true;
  }
  void end_section() {
    if (pos_ != end_)
      fail(bytes_text(end_ - pos_) + " after the last field (offsets " + std::to_string(pos_) + " to " +
           std::to_string(end_) + "): a count or the section length is wrong");
    pos_ += 8;  // checksum
    in_payload_ = false;
    end_ = b_.size();
    section_.clear();
  }
  void finish() {
    section_.clear();
    if (pos_ != b_.size())
      fail(bytes_text(b_.size() - pos_) + " after the last section (from offset " + std::to_string(pos_) +
           ")");
  }
  [[nodiscard]] const std::string& what() const noexcept { return what_; }

 private:
  [[nodiscard]] std::string where_left() const {
    return " at offset " + std::to_string(pos_) + ", but the " + (in_payload_ ? "section" : "file") +
           " ends at offset " + std::to_string(end_) + " (" + bytes_text(end_ - pos_) + " left)";
  }

  std::span<const std::byte> b_;
  std::string what_, section_;
  std::size_t pos_ = 0, end_ = 0;
  std::uint32_t version_ = 0;
  bool in_payload_ = false;
};

/// Runs `make` (a source constructor that checks its items); its errors become
/// parse errors of section DATA.
template <class Make>
std::shared_ptr<data_source> checked_source(reader& r, Make make) {
  try {
    return make();
  } catch (const error& e) {
    r.fail(e.what());
  }
}

std::shared_ptr<data_source> read_data(reader& r, std::shared_ptr<data_source> given) {
  const auto kind = r.in_range<std::uint32_t>(
      "kind", 0, 6, "0 external, 1 dense, 2 strings, 3 sets, 4 bits, 5 products, 6 sparse");
  const auto metric = r.get<std::uint32_t>("metric");
  const std::uint64_t n = r.in_range<std::uint64_t>("n", 2, param_limits::max_items, "the item count");
  const std::uint64_t dim = r.get<std::uint64_t>("dim");
  // n x dim values fit in 2^64 and dim + 63 does not wrap.
  constexpr std::uint64_t max_dim = std::uint64_t{1} << 31;
  auto stored_only = [&] {
    expects(given == nullptr, error_code::invalid_argument,
            r.what() + ": the model stores its items; pass no data source when loading it");
  };
  auto rows = [&] {
    r.check_range<std::uint64_t>("dim", dim, 1, max_dim);
    return r.fixed<float>(n * dim, "rows (n x dim f32)");
  };
  // Each string or set takes at least its 8-byte length: a bound on n before n items are made.
  auto counted_items = [&](const char* what) {
    r.check_range<std::uint32_t>("metric", metric, 0, 0, std::string(what) + " have one metric");
    r.check_range<std::uint64_t>("dim", dim, 0, 0, std::string(what) + " have no dimension");
    if (n > r.left() / 8)
      r.fail("truncated: field n = " + std::to_string(n) + " " + what + " need at least 8 bytes each, but " +
             bytes_text(r.left()) + " are left in the section");
  };
  switch (static_cast<source_kind>(kind)) {
    case source_kind::dense: {
      stored_only();
      r.check_range<std::uint32_t>(
          "metric", metric, 0, 8,
          "0 euclidean, 1 cosine, 2 manhattan, 3 chebyshev, 4 minkowski, 5 seuclidean, "
          "6 mahalanobis, 7 canberra, 8 braycurtis");
      const std::vector<float> v = rows();
      const auto m = static_cast<dense_metric>(metric);
      std::vector<double> params;
      if (m == dense_metric::minkowski || m == dense_metric::seuclidean || m == dense_metric::mahalanobis)
        params = r.array<double>("metric parameters");
      return checked_source(
          r, [&] { return std::make_shared<dense_source>(v, n, dim, m, rows_normalized, params); });
    }
    case source_kind::products: {
      stored_only();
      r.check_range<std::uint32_t>("metric", metric, 0, 1, "0 inner_product, 1 angular");
      const std::vector<float> v = rows();
      return checked_source(r, [&] {
        return std::make_shared<product_source>(v, n, dim, static_cast<product_metric>(metric),
                                                rows_normalized);
      });
    }
    case source_kind::strings: {
      stored_only();
      counted_items("strings");
      std::vector<std::string> items(static_cast<std::size_t>(n));
      for (std::size_t i = 0; i < items.size(); ++i)
        items[i] = r.string("item " + std::to_string(i) + " length");
      return checked_source(r, [&] { return std::make_shared<string_source>(items); });
    }
    case source_kind::sets: {
      stored_only();
      counted_items("sets");
      std::vector<std::uint32_t> ids;
      std::vector<std::size_t> offsets{0};
      offsets.reserve(static_cast<std::size_t>(n) + 1);
      for (std::size_t i = 0; i < n; ++i) {
        const auto item = r.array<std::uint32_t>("item " + std::to_string(i) + " ids");
        ids.insert(ids.end(), item.begin(), item.end());
        offsets.push_back(ids.size());
      }
      std::vector<std::string> vocabulary;
      if (r.version() >= 4) {
        // Each token takes at least its 8-byte length.
        const auto count = r.in_range<std::uint64_t>("vocabulary count", 0, r.left() / 8,
                                                     "the tokens left in the section, 8 bytes each at least");
        vocabulary.resize(static_cast<std::size_t>(count));
        for (std::size_t t = 0; t < vocabulary.size(); ++t)
          vocabulary[t] = r.string("vocabulary token " + std::to_string(t) + " length");
      }
      return checked_source(
          r, [&] { return std::make_shared<set_source>(ids, offsets, std::move(vocabulary)); });
    }
    case source_kind::bits: {
      stored_only();
      r.check_range<std::uint32_t>("metric", metric, 0, 1, "0 hamming, 1 tanimoto");
      r.check_range<std::uint64_t>("dim", dim, 1, max_dim, "bits per item");
      const std::size_t words = static_cast<std::size_t>((dim + 63) / 64),
                        row_bytes = static_cast<std::size_t>((dim + 7) / 8);
      const auto w = r.fixed<std::uint64_t>(n * words, "bits (n x ceil(dim / 64) u64)");
      std::vector<std::uint8_t> packed(static_cast<std::size_t>(n) * row_bytes);
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t b = 0; b < row_bytes; ++b)
          packed[i * row_bytes + b] = static_cast<std::uint8_t>(w[i * words + b / 8] >> (56 - 8 * (b % 8)));
      return checked_source(
          r, [&] { return std::make_shared<bit_source>(packed, n, dim, static_cast<bit_metric>(metric)); });
    }
    case source_kind::sparse: {
      stored_only();
      r.check_range<std::uint32_t>("metric", metric, 0, 3,
                                   "0 euclidean, 1 cosine, 2 manhattan, 3 inner_product");
      r.check_range<std::uint64_t>("dim", dim, 1, std::numeric_limits<std::uint32_t>::max(), "n_features");
      const auto indptr = r.array<std::uint64_t>("indptr");
      if (indptr.size() != n + 1)
        r.fail("field indptr count = " + std::to_string(indptr.size()) +
               " (expected n + 1 = " + std::to_string(n + 1) + ")");
      const auto indices = r.array<std::uint32_t>("indices");
      const auto values = r.array<float>("values");
      const std::vector<std::int64_t> p(indptr.begin(), indptr.end()), c(indices.begin(), indices.end());
      return checked_source(r, [&] {
        return std::make_shared<sparse_source>(p, c, values, dim, static_cast<sparse_metric>(metric),
                                               rows_normalized);
      });
    }
    case source_kind::external: {
      r.check_range<std::uint32_t>("metric", metric, 0, 0, "a source chutoro does not store has none");
      const std::string name = r.string("name");
      const auto print = r.get<std::uint64_t>("fingerprint");
      expects(given != nullptr, error_code::invalid_argument,
              r.what() + ": the model's items (source " + io_detail::quote_text(name, 80) +
                  ") are not stored in the file; pass the same data source to load it");
      expects(
          given->size() == n && given->dim() == dim && given->name() == name && fingerprint(*given) == print,
          error_code::invalid_argument,
          r.what() + ": the data source given (" + io_detail::quote_text(given->name(), 80) + ", " +
              std::to_string(given->size()) + " items) is not the one the model was fitted on (" +
              io_detail::quote_text(name, 80) + ", " + std::to_string(n) + " items; fingerprints differ)");
      return given;
    }
  }
  r.fail("unknown source kind " + std::to_string(kind));  // unreachable: kind was range-checked
}

double edge_distance(const detail::raw_edge& e) noexcept { return e.d; }
double edge_distance(const mst_edge& e) noexcept { return e.distance; }

template <class Id>
bool is_item(Id x, std::uint64_t n) noexcept {
  if constexpr (std::is_signed_v<Id>) {
    if (x < 0) return false;
  }
  return static_cast<std::uint64_t>(x) < n;
}

/// Item ids of edge `e` of `field` are < n and differ; its distance is >= 0 (not NaN).
template <class Edge>
void check_edge(const reader& r, const std::string& field, std::size_t e, const Edge& edge, std::uint64_t n) {
  auto where = [&] {
    return "field " + field + ": edge " + std::to_string(e) + " (0-based) = (" + std::to_string(edge.a) +
           ", " + std::to_string(edge.b) + ", " + number_text(edge_distance(edge)) + ")";
  };
  if (!is_item(edge.a, n) || !is_item(edge.b, n))
    r.fail(where() + " has an item id outside [0, " + std::to_string(n - 1) + "]");
  if (edge.a == edge.b) r.fail(where() + " is a self-loop");
  if (!(edge_distance(edge) >= 0)) r.fail(where() + " has a distance that is not a number >= 0");
}

}  // namespace

std::vector<std::byte> model::to_bytes() const {
  const impl& m = *p_;
  std::vector<std::byte> out;
  writer w(out);
  w.raw(kMagic, 8);
  w.put(kFormatVersion);
  w.put(kEndianMarker);
  const std::size_t count_at = out.size();
  w.put<std::uint32_t>(0);  // section count, patched below
  w.put<std::uint32_t>(0);
  w.put<std::uint64_t>(0);  // header checksum, patched below

  const build_params& b = m.p.build;
  const selection_params& s = m.p.selection;
  w.begin_section(kParams);
  w.put<std::uint64_t>(*b.min_samples);
  // The resolved mode (the graph state), and whether auto chose it.
  const bool by_auto = b.candidates == candidate_mode::auto_select;
  w.put<std::uint32_t>(m.hnsw                                ? (by_auto ? 3 : 0)
                       : b.candidates == candidate_mode::knn ? 4
                                                             : (by_auto ? 2 : 1));
  w.put<std::uint64_t>(b.m), w.put<std::uint64_t>(b.ef_construction), w.put<std::uint64_t>(b.seed);
  w.put<std::uint64_t>(b.batch_size), w.put<std::uint64_t>(b.compaction_factor),
      w.put<std::uint64_t>(b.compaction_min_edges);
  w.put<std::uint64_t>(s.min_cluster_size);
  w.put(static_cast<std::uint32_t>(s.method));
  w.put<double>(s.cluster_selection_epsilon);
  w.put<std::uint8_t>(s.allow_single_cluster ? 1 : 0);
  w.put<std::uint64_t>(s.max_cluster_size);
  w.put<double>(s.cluster_selection_persistence);
  w.put<double>(s.cluster_selection_epsilon_max);
  w.end_section();

  write_data(w, *m.data);

  if (m.hnsw) {
    const detail::hnsw_graph& g = m.hnsw->graph;
    w.begin_section(kGraph);
    w.put<std::uint64_t>(g.size()), w.put<std::uint64_t>(g.inserted);
    w.put<std::uint32_t>(g.entry), w.put<std::int32_t>(g.max_level);
    w.raw(g.level.data(), g.level.size());
    // Layer 0: each item's count and filled links only (version 3).
    for (std::size_t i = 0; i < g.size(); ++i) {
      const std::uint32_t* lk = g.links(static_cast<std::uint32_t>(i), 0);
      w.raw(lk, (1 + std::size_t{lk[0]}) * sizeof(std::uint32_t));
    }
    w.array(std::span<const std::uint32_t>(g.upper));
    w.end_section();
    const detail::candidate_graph& c = m.hnsw->candidates;
    w.begin_section(kKnn);
    w.put<std::uint64_t>(c.size()), w.put<std::uint64_t>(c.k());
    w.raw(c.known().data(), c.known().size_bytes());
    std::vector<float> d(c.size() * c.k());
    std::vector<std::uint32_t> id(c.size() * c.k());
    for (std::size_t i = 0; i < c.size(); ++i)
      c.canonical_neighbours(i, std::span(d).subspan(i * c.k(), c.k()),
                             std::span(id).subspan(i * c.k(), c.k()));
    w.raw(d.data(), d.size() * sizeof(float));
    w.raw(id.data(), id.size() * sizeof(std::uint32_t));
    w.end_section();
    // A fit or add ends with finish_and_compact(): the forest, and the few
    // edges a later forest may still need.
    w.begin_section(kForest);
    w.array(c.forest());
    // Sorted, the file is the same bytes for any thread count (the buffer's
    // order could depend on thread timing; its multiset does not).
    std::vector<detail::raw_edge> buffered(c.buffered().begin(), c.buffered().end());
    std::sort(buffered.begin(), buffered.end(), [](const detail::raw_edge& x, const detail::raw_edge& y) {
      return std::tie(x.a, x.b, x.d) < std::tie(y.a, y.b, y.d);
    });
    w.array(std::span<const detail::raw_edge>(buffered));
    w.end_section();
  } else {
    w.begin_section(kTree);
    w.array(std::span<const float>(m.tree.core_distances));
    w.array(std::span<const mst_edge>(m.tree.edges));
    w.end_section();
  }
  const std::uint32_t sections = w.sections();
  std::memcpy(out.data() + count_at, &sections, sizeof sections);
  const std::uint64_t sum = XXH64(out.data(), 24, 0);
  std::memcpy(out.data() + 24, &sum, sizeof sum);
  return out;
}

model model::from_bytes(std::span<const std::byte> bytes, std::shared_ptr<data_source> data,
                        std::string_view what, device_kind device) {
  namespace lim = param_limits;
  auto m = std::make_unique<impl>();
  // The file stores no device: the model runs where it is loaded.
  m->use_backend(detail::select_backend(device));
  m->stats.device = m->backend.device;
  m->stats.device_fallback_reason = m->backend.fallback_reason;
  reader r(bytes, std::string(what));
  const std::uint32_t sections = r.header();
  build_params& b = m->p.build;
  selection_params& s = m->p.selection;

  // Every field is range-checked as it is read; those bounded by the item
  // count (min_samples, min_cluster_size) again once section DATA gave it.
  r.next_section(kParams);
  const std::string at_most_n = "at most the item count n";
  const auto min_samples = r.in_range<std::uint64_t>("min_samples", 1, lim::max_items, at_most_n);
  const auto stored_candidates = r.in_range<std::uint32_t>(
      "candidates", 0, 4, "0 hnsw, 1 exact, 2 auto chose exact, 3 auto chose hnsw, 4 knn");
  const bool hnsw_model = stored_candidates == 0 || stored_candidates == 3;
  b.candidates = stored_candidates == 4   ? candidate_mode::knn
                 : stored_candidates >= 2 ? candidate_mode::auto_select
                                          : static_cast<candidate_mode>(stored_candidates);
  b.m = r.in_range<std::uint64_t>("m", lim::min_m, lim::max_m);
  b.ef_construction =
      r.in_range<std::uint64_t>("ef_construction", lim::min_ef_construction, lim::max_ef_construction);
  b.seed = r.get<std::uint64_t>("seed");
  b.batch_size = r.in_range<std::uint64_t>("batch_size", 1, std::numeric_limits<std::uint64_t>::max());
  b.compaction_factor = r.in_range<std::uint64_t>("compaction_factor", 1, lim::max_compaction_factor);
  b.compaction_min_edges =
      r.in_range<std::uint64_t>("compaction_min_edges", 0, lim::max_compaction_min_edges);
  const auto min_cluster_size = r.in_range<std::uint64_t>("min_cluster_size", 2, lim::max_items, at_most_n);
  s.method = static_cast<cluster_selection_method>(
      r.in_range<std::uint32_t>("cluster_selection_method", 0, 1, "0 eom, 1 leaf"));
  s.cluster_selection_epsilon = r.in_range<double>(
      "cluster_selection_epsilon", 0.0, std::numeric_limits<double>::max(), "a finite number >= 0");
  s.allow_single_cluster = r.in_range<std::uint8_t>("allow_single_cluster", 0, 1, "0 false, 1 true") != 0;
  if (r.version() >= 2) {
    s.max_cluster_size = r.in_range<std::uint64_t>("max_cluster_size", 0, lim::max_items, "0 = no limit");
    s.cluster_selection_persistence = r.in_range<double>(
        "cluster_selection_persistence", 0.0, std::numeric_limits<double>::max(), "a finite number >= 0");
    s.cluster_selection_epsilon_max =
        r.in_range<double>("cluster_selection_epsilon_max", s.cluster_selection_epsilon,
                           std::numeric_limits<double>::infinity(), ">= cluster_selection_epsilon");
  }
  b.min_samples = static_cast<std::size_t>(min_samples);
  s.min_cluster_size = static_cast<std::size_t>(min_cluster_size);
  b.device = device;
  try {
    validate(m->p);  // the checks above cover it; kept as a backstop
  } catch (const error& e) {
    r.fail(std::string("bad parameters: ") + e.what());
  }
  r.end_section();

  r.next_section(kData);
  m->data = read_data(r, std::move(data));
  r.end_section();
  const std::size_t n = m->data->size();
  const std::string items_text = "n = " + std::to_string(n) + ", the item count of section DATA";
  if (min_samples > n)
    r.fail_in("PARM", "field min_samples = " + std::to_string(min_samples) + " is out of range [1, " +
                          std::to_string(n) + "] (" + items_text + ")");
  if (min_cluster_size > n)
    r.fail_in("PARM", "field min_cluster_size = " + std::to_string(min_cluster_size) +
                          " is out of range [2, " + std::to_string(n) + "] (" + items_text + ")");

  m->stats.candidates = hnsw_model               ? candidate_mode::hnsw
                        : stored_candidates == 4 ? candidate_mode::knn
                                                 : candidate_mode::exact;
  if (hnsw_model) {
    if (sections != 5)
      r.fail_in("header", "field sections = " + std::to_string(sections) +
                              ", but an hnsw model (PARM candidates = " + std::to_string(stored_candidates) +
                              ") has 5 sections");
    m->hnsw.emplace(b, m->backend.ptr);
    detail::hnsw_graph& g = m->hnsw->graph;
    r.next_section(kGraph);
    r.equal("n", n, "the item count of section DATA");
    r.equal("inserted", n, "the item count of section DATA");
    g.inserted = n;
    g.entry = r.in_range<std::uint32_t>("entry", 0, static_cast<std::uint32_t>(n - 1), "an item id");
    g.max_level = r.in_range<std::int32_t>("max_level", 0, 255);
    // The levels and layer-0 lists must be there before grow(n) allocates for them.
    const bool padded = r.version() < 3;  // versions 1 and 2 pad each layer-0 list to 2m links
    if (padded)
      r.need(n * (1 + (g.m0 + 1) * sizeof(std::uint32_t)),
             "field levels and layer-0 lists (n x (1 + 4 (2m + 1)))");
    else
      r.need(n * (1 + sizeof(std::uint32_t)), "field levels and layer-0 counts (n x (1 + 4))");
    g.grow(n);  // levels and block offsets follow from (seed, id)
    const auto levels = r.fixed<std::uint8_t>(n, "levels");
    for (std::size_t i = 0; i < n; ++i)
      if (levels[i] != g.level[i])
        r.fail("field levels: item " + std::to_string(i) + " (0-based) is on level " +
               std::to_string(levels[i]) + ", but the seed " + std::to_string(b.seed) + " puts it on level " +
               std::to_string(g.level[i]));
    if (g.level[g.entry] != g.max_level)
      r.fail("field max_level = " + std::to_string(g.max_level) + ", but the entry point (item " +
             std::to_string(g.entry) + ") is on level " + std::to_string(g.level[g.entry]));
    if (padded) {
      g.links0 = r.fixed<std::uint32_t>(n * (g.m0 + 1), "layer-0 lists (n x (2m + 1) u32)");
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        std::uint32_t* lk = g.links(static_cast<std::uint32_t>(i), 0);
        const std::string list = "layer-0 list of item " + std::to_string(i) + " (0-based)";
        lk[0] = r.in_range<std::uint32_t>(list + " count", 0, static_cast<std::uint32_t>(g.m0), "at most 2m");
        r.raw(lk + 1, lk[0] * sizeof(std::uint32_t), "field " + list);
      }
    }
    g.upper = r.array<std::uint32_t>("upper-layer lists");
    std::size_t blocks = 0;
    for (std::size_t i = 0; i < n; ++i) blocks += g.level[i];
    if (g.upper.size() != blocks * (g.m + 1))
      r.fail("field upper-layer lists count = " + std::to_string(g.upper.size()) + " differs from " +
             std::to_string(blocks * (g.m + 1)) + ", the levels' " + std::to_string(blocks) +
             " blocks of 1 + m = " + std::to_string(g.m + 1) + " values");
    for (std::size_t i = 0; i < n; ++i)
      for (int l = 0; l <= g.level[i]; ++l) {
        const std::uint32_t* lk = g.links(static_cast<std::uint32_t>(i), l);
        const std::size_t most = l == 0 ? g.m0 : g.m;
        const std::string list =
            "the layer-" + std::to_string(l) + " list of item " + std::to_string(i) + " (0-based)";
        if (lk[0] > most)
          r.fail(list + " holds " + std::to_string(lk[0]) + " links, more than " + std::to_string(most));
        for (std::uint32_t k = 0; k < lk[0]; ++k)
          if (lk[1 + k] >= n || g.level[lk[1 + k]] < l)
            r.fail(list + " links to item " + std::to_string(lk[1 + k]) +
                   (lk[1 + k] >= n ? ", which is not < n = " + std::to_string(n)
                                   : ", which is not on layer " + std::to_string(l)));
      }
    r.end_section();

    r.next_section(kKnn);
    const std::size_t k = m->hnsw->candidates.k();
    r.equal("n", n, "the item count of section DATA");
    r.equal("k", k, "min_samples - 1 of section PARM");
    auto known = r.fixed<std::uint32_t>(n, "known (n x u32)");
    auto knn_d = r.fixed<float>(n * k, "distances (n x k f32)");
    auto knn_id = r.fixed<std::uint32_t>(n * k, "ids (n x k u32)");
    std::vector<std::uint32_t> ids;
    for (std::size_t i = 0; i < n; ++i) {
      const std::string item = "item " + std::to_string(i) + " (0-based)";
      if (known[i] > k)
        r.fail("field known: " + item + " has " + std::to_string(known[i]) +
               " neighbours, more than k = " + std::to_string(k));
      const float* d = &knn_d[i * k];
      const std::uint32_t* id = &knn_id[i * k];
      for (std::size_t j = 0; j < k; ++j) {
        const std::string slot = "field ids: " + item + ", slot " + std::to_string(j) + ": ";
        if (j >= known[i]) {
          if (d[j] != 0.0f || id[j] != 0) r.fail(slot + "an unfilled slot is not 0");
          continue;
        }
        if (id[j] >= n || id[j] == i)
          r.fail(slot + "neighbour " + std::to_string(id[j]) + " is " +
                 (id[j] == i ? "the item itself" : "not < n = " + std::to_string(n)));
        if (!(d[j] >= 0)) r.fail(slot + "distance " + number_text(d[j]) + " is not a number >= 0");
        if (j > 0 && !(std::pair(d[j - 1], id[j - 1]) > std::pair(d[j], id[j])))
          r.fail(slot + "the neighbours are not sorted descending by (distance, id)");
      }
      ids.assign(id, id + known[i]);
      std::sort(ids.begin(), ids.end());
      if (std::adjacent_find(ids.begin(), ids.end()) != ids.end())
        r.fail("field ids: " + item + " lists neighbour " +
               std::to_string(*std::adjacent_find(ids.begin(), ids.end())) + " twice");
    }
    r.end_section();

    r.next_section(kForest);
    auto forest = r.array<detail::raw_edge>("forest");
    auto buffered = r.array<detail::raw_edge>("buffered edges");
    if (forest.size() >= n)
      r.fail("field forest count = " + std::to_string(forest.size()) +
             " is more than n - 1 = " + std::to_string(n - 1) + ", the most edges a forest on n items has");
    detail::union_find components(n);
    for (std::size_t e = 0; e < forest.size(); ++e) {
      check_edge(r, "forest", e, forest[e], n);
      if (!components.unite(forest[e].a, forest[e].b))
        r.fail("field forest: edge " + std::to_string(e) + " (0-based) = (" + std::to_string(forest[e].a) +
               ", " + std::to_string(forest[e].b) + ") closes a cycle");
    }
    for (std::size_t e = 0; e < buffered.size(); ++e) check_edge(r, "buffered edges", e, buffered[e], n);
    // -0 is stored as +0: the two compare equal, and the compaction below
    // must see one edge where they would be two (a file that round-trips).
    for (auto* edges : {&forest, &buffered})
      for (detail::raw_edge& e : *edges)
        if (e.d == 0.0f) e.d = 0.0f;
    r.end_section();
    m->hnsw->candidates.restore(std::move(knn_d), std::move(knn_id), std::move(known), std::move(forest),
                                std::move(buffered));
    m->hnsw->candidates.set_items_seen(n);
    const auto scope = m->enter();
    m->tree = m->hnsw->candidates.finish_and_compact();  // as the fit or add that wrote it ended
  } else {
    if (sections != 3)
      r.fail_in("header", "field sections = " + std::to_string(sections) +
                              ", but an exact model (PARM candidates = " + std::to_string(stored_candidates) +
                              ") has 3 sections");
    r.next_section(kTree);
    m->tree.n = n;
    m->tree.core_distances = r.array<float>("core distances");
    if (m->tree.core_distances.size() != n)
      r.fail("field core distances count = " + std::to_string(m->tree.core_distances.size()) +
             " differs from " + std::to_string(n) + ", the item count of section DATA");
    for (std::size_t i = 0; i < n; ++i)
      if (!(m->tree.core_distances[i] >= 0))
        r.fail("field core distances: item " + std::to_string(i) + " (0-based) has " +
               number_text(m->tree.core_distances[i]) + ", not a number >= 0");
    m->tree.edges = r.array<mst_edge>("edges");
    if (m->tree.edges.size() != n - 1)
      r.fail("field edges count = " + std::to_string(m->tree.edges.size()) +
             " differs from n - 1 = " + std::to_string(n - 1) + " (a spanning tree of section DATA's items)");
    for (std::size_t e = 0; e < m->tree.edges.size(); ++e) check_edge(r, "edges", e, m->tree.edges[e], n);
    r.end_section();
  }
  r.finish();
  try {
    m->extract();  // validates the tree (cycles, among others)
  } catch (const error& e) {
    r.fail_in(m->hnsw ? "FRST" : "TREE", std::string("not a spanning tree: ") + e.what());
  }
  return model(std::move(m));
}

void model::save(const std::filesystem::path& path) const {
  const std::vector<std::byte> bytes = to_bytes();
  io_detail::output_file out(path);
  out.write({reinterpret_cast<const char*>(bytes.data()), bytes.size()});
  out.commit(/*require_directory_sync=*/true);
}

model model::load(const std::filesystem::path& path, std::shared_ptr<data_source> data, device_kind device) {
  const std::string bytes = io_detail::input_file(path).read_all();  // error(io) for a directory too
  return from_bytes(std::as_bytes(std::span(bytes)), std::move(data), "model file '" + path.string() + "'",
                    device);
}

}  // namespace chutoro
