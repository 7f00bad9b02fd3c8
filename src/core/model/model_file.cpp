// chutoro — the model file (docs/model_format.md): a header and checksummed
// sections, written atomically. Everything is little-endian; a file written
// on a machine of the other byte order is rejected by its endianness marker.
#include <algorithm>
#include <bit>
#include <chutoro/error.hpp>
#include <chutoro/metrics.hpp>
#include <chutoro/model.hpp>
#include <cstdio>
#include <cstring>
#include <string>
#include <system_error>
#include <tuple>
#include <type_traits>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "core/model/model_impl.hpp"
#include "io/io_common.hpp"

namespace chutoro {

namespace {

static_assert(std::endian::native == std::endian::little, "the model file format is little-endian");

constexpr char kMagic[8] = {'C', 'H', 'U', 'T', 'O', 'R', 'O', '\x1a'};
constexpr std::uint32_t kFormatVersion = 1;
constexpr std::uint32_t kEndianMarker = 0x01020304u;

constexpr std::uint32_t tag(const char (&s)[5]) {
  return std::uint32_t(std::uint8_t(s[0])) | std::uint32_t(std::uint8_t(s[1])) << 8 |
         std::uint32_t(std::uint8_t(s[2])) << 16 | std::uint32_t(std::uint8_t(s[3])) << 24;
}
constexpr std::uint32_t kParams = tag("PARM"), kData = tag("DATA"), kGraph = tag("HNSW"), kKnn = tag("KNNS"),
                        kForest = tag("FRST"), kTree = tag("TREE");

std::string tag_name(std::uint32_t t) {
  std::string s(4, '?');
  for (int i = 0; i < 4; ++i) {
    const char c = static_cast<char>((t >> (8 * i)) & 0xFF);
    s[static_cast<std::size_t>(i)] = (c >= 32 && c < 127) ? c : '?';
  }
  return s;
}

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

// UTF-8 encoding of code points that came from decode_utf8 (valid scalars).
void append_utf8(std::string& s, char32_t c) {
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    s += static_cast<char>(0xE0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (c >> 18));
    s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
}

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
    } else if constexpr (std::is_same_v<S, string_source>) {
      w.put<std::uint32_t>(0), w.put(n), w.put<std::uint64_t>(0);
      std::string utf8;
      for (std::size_t i = 0; i < n; ++i) {
        utf8.clear();
        for (char32_t c : s.item(i)) append_utf8(utf8, c);
        w.string(utf8);
      }
    } else if constexpr (std::is_same_v<S, set_source>) {
      w.put<std::uint32_t>(0), w.put(n), w.put<std::uint64_t>(0);
      for (std::size_t i = 0; i < n; ++i) w.array(s.item(i));
    } else if constexpr (std::is_same_v<S, bit_source>) {
      w.put(static_cast<std::uint32_t>(s.metric())), w.put(n), w.put<std::uint64_t>(s.dim());
      const matrix_view v = *s.matrix();  // stride == cols: the rows are contiguous
      w.raw(v.data, n * v.stride * sizeof(std::uint64_t));
    } else {
      w.put<std::uint32_t>(0), w.put(n), w.put<std::uint64_t>(s.dim());
      w.string(s.name());
      w.put(fingerprint(s));
    }
  });
  w.end_section();
}

// ---- reading ---------------------------------------------------------------

/// Bounds-checked reads from the file's bytes; every failure is error(parse)
/// naming the input and the section.
class reader {
 public:
  reader(std::span<const std::byte> b, std::string what) : b_(b), what_(std::move(what)) {}

  [[noreturn]] void fail(const std::string& problem) const {
    throw error(error_code::parse,
                what_ + ": " + (section_.empty() ? "" : "section " + section_ + ": ") + problem);
  }
  void need(std::size_t n) const {
    if (n > end_ - pos_)
      fail("truncated (needs " + std::to_string(n) + " more bytes at offset " + std::to_string(pos_) + ")");
  }
  void raw(void* p, std::size_t n) {
    need(n);
    if (n == 0) return;  // p may be an empty vector's null data()
    std::memcpy(p, b_.data() + pos_, n);
    pos_ += n;
  }
  template <class T>
  T get() {
    T v;
    raw(&v, sizeof v);
    return v;
  }
  /// A count of items of `size` bytes each that must fit in what is left.
  std::size_t count(std::size_t size, const char* what) {
    const auto c = get<std::uint64_t>();
    if (size > 0 && c > (end_ - pos_) / size)
      fail(std::string(what) + ": count " + std::to_string(c) + " exceeds the section");
    return static_cast<std::size_t>(c);
  }
  template <class T>
  std::vector<T> array(const char* what) {
    std::vector<T> v(count(sizeof(T), what));
    raw(v.data(), v.size() * sizeof(T));
    return v;
  }
  template <class T>
  std::vector<T> fixed(std::size_t n, const char* what) {
    if (sizeof(T) > 0 && n > (end_ - pos_) / sizeof(T)) fail(std::string(what) + ": truncated");
    std::vector<T> v(n);
    raw(v.data(), n * sizeof(T));
    return v;
  }
  std::string string(const char* what) {
    std::string s(count(1, what), '\0');
    raw(s.data(), s.size());
    return s;
  }

  /// Reads the header; returns the number of sections.
  std::uint32_t header() {
    section_ = "header";
    end_ = b_.size();
    char magic[8];
    if (b_.size() < 32 || (raw(magic, 8), std::memcmp(magic, kMagic, 8) != 0))
      fail("not a chutoro model file (bad magic bytes)");
    const auto version = get<std::uint32_t>();
    const auto endian = get<std::uint32_t>();
    if (endian == 0x04030201u) fail("written on a big-endian machine; this build reads little-endian files");
    if (endian != kEndianMarker) fail("bad endianness marker");
    if (version != kFormatVersion)
      fail("format version " + std::to_string(version) + ", this build reads version " +
           std::to_string(kFormatVersion));
    const auto sections = get<std::uint32_t>();
    (void)get<std::uint32_t>();
    const auto sum = get<std::uint64_t>();
    if (sum != XXH64(b_.data(), 24, 0)) fail("checksum mismatch (the file is corrupted)");
    section_.clear();
    return sections;
  }

  /// Opens the next section, checks its checksum; returns its tag.
  std::uint32_t next_section() {
    section_ = "#" + std::to_string(index_++);
    end_ = b_.size();
    const auto t = get<std::uint32_t>();
    section_ = tag_name(t);
    if (get<std::uint32_t>() != 0) fail("reserved field is not zero");
    const auto len = get<std::uint64_t>();
    if (len > b_.size() - pos_ || b_.size() - pos_ - len < 8)
      fail("truncated (length " + std::to_string(len) + ", " + std::to_string(b_.size() - pos_) +
           " bytes left)");
    std::uint64_t sum;
    std::memcpy(&sum, b_.data() + pos_ + len, 8);
    if (sum != XXH64(b_.data() + pos_ - 16, static_cast<std::size_t>(len) + 16, 0))
      fail("checksum mismatch (the file is corrupted)");
    end_ = pos_ + static_cast<std::size_t>(len);
    return t;
  }
  void end_section() {
    if (pos_ != end_) fail(std::to_string(end_ - pos_) + " unread bytes");
    pos_ += 8;  // checksum
    section_.clear();
  }
  void finish() {
    section_.clear();
    if (pos_ != b_.size()) fail(std::to_string(b_.size() - pos_) + " bytes after the last section");
  }
  [[nodiscard]] const std::string& what() const noexcept { return what_; }

 private:
  std::span<const std::byte> b_;
  std::string what_, section_;
  std::size_t pos_ = 0, end_ = 0;
  std::uint32_t index_ = 0;
};

void check(reader& r, bool ok, const std::string& problem) {
  if (!ok) r.fail(problem);
}

std::shared_ptr<data_source> read_data(reader& r, std::shared_ptr<data_source> given) {
  const auto kind = static_cast<source_kind>(r.get<std::uint32_t>());
  const auto metric = r.get<std::uint32_t>();
  const auto n = static_cast<std::size_t>(r.get<std::uint64_t>());
  const auto dim = static_cast<std::size_t>(r.get<std::uint64_t>());
  auto stored_only = [&] {
    expects(given == nullptr, error_code::invalid_argument,
            r.what() + ": the model stores its items; pass no data source when loading it");
  };
  auto read_floats = [&] {
    check(r, dim > 0 && n > 0 && dim <= (std::size_t{1} << 40) / n,
          "bad shape " + std::to_string(n) + " x " + std::to_string(dim));
    return r.fixed<float>(n * dim, "rows");
  };
  switch (kind) {
    case source_kind::dense: {
      stored_only();
      check(r, metric <= 2, "unknown dense metric " + std::to_string(metric));
      const std::vector<float> v = read_floats();
      return std::make_shared<dense_source>(v, n, dim, static_cast<dense_metric>(metric), rows_normalized);
    }
    case source_kind::products: {
      stored_only();
      check(r, metric <= 1, "unknown product metric " + std::to_string(metric));
      const std::vector<float> v = read_floats();
      return std::make_shared<product_source>(v, n, dim, static_cast<product_metric>(metric),
                                              rows_normalized);
    }
    case source_kind::strings: {
      stored_only();
      std::vector<std::string> items(n);
      for (auto& s : items) s = r.string("string");
      return std::make_shared<string_source>(items);
    }
    case source_kind::sets: {
      stored_only();
      std::vector<std::uint32_t> ids;
      std::vector<std::size_t> offsets{0};
      for (std::size_t i = 0; i < n; ++i) {
        const auto item = r.array<std::uint32_t>("set");
        ids.insert(ids.end(), item.begin(), item.end());
        offsets.push_back(ids.size());
      }
      return std::make_shared<set_source>(ids, offsets);
    }
    case source_kind::bits: {
      stored_only();
      check(r, metric <= 1 && dim > 0 && n > 0, "bad bit source header");
      const std::size_t words = (dim + 63) / 64, row_bytes = (dim + 7) / 8;
      const auto w = r.fixed<std::uint64_t>(n * words, "bits");
      std::vector<std::uint8_t> packed(n * row_bytes);
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t b = 0; b < row_bytes; ++b)
          packed[i * row_bytes + b] = static_cast<std::uint8_t>(w[i * words + b / 8] >> (56 - 8 * (b % 8)));
      return std::make_shared<bit_source>(packed, n, dim, static_cast<bit_metric>(metric));
    }
    case source_kind::external: {
      const std::string name = r.string("name");
      const auto print = r.get<std::uint64_t>();
      expects(given != nullptr, error_code::invalid_argument,
              r.what() + ": the model's items (source '" + name +
                  "') are not stored in the file; pass the same data source to load it");
      expects(given->size() == n && given->name() == name && fingerprint(*given) == print,
              error_code::invalid_argument,
              r.what() + ": the data source given ('" + given->name() + "', " +
                  std::to_string(given->size()) + " items) is not the one the model was fitted on ('" + name +
                  "', " + std::to_string(n) + " items; fingerprints differ)");
      return given;
    }
  }
  r.fail("unknown source kind " + std::to_string(static_cast<std::uint32_t>(kind)));
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
  w.put(static_cast<std::uint32_t>(b.candidates));
  w.put<std::uint64_t>(b.m), w.put<std::uint64_t>(b.ef_construction), w.put<std::uint64_t>(b.seed);
  w.put<std::uint64_t>(b.batch_size), w.put<std::uint64_t>(b.compaction_factor),
      w.put<std::uint64_t>(b.compaction_min_edges);
  w.put<std::uint64_t>(s.min_cluster_size);
  w.put(static_cast<std::uint32_t>(s.method));
  w.put<double>(s.cluster_selection_epsilon);
  w.put<std::uint8_t>(s.allow_single_cluster ? 1 : 0);
  w.end_section();

  write_data(w, *m.data);

  if (m.hnsw) {
    const detail::hnsw_graph& g = m.hnsw->graph;
    w.begin_section(kGraph);
    w.put<std::uint64_t>(g.size()), w.put<std::uint64_t>(g.inserted);
    w.put<std::uint32_t>(g.entry), w.put<std::int32_t>(g.max_level);
    w.raw(g.level.data(), g.level.size());
    w.raw(g.links0.data(), g.links0.size() * sizeof(std::uint32_t));
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
    w.begin_section(kForest);
    w.array(c.forest());
    // The buffer's order depends on thread timing (its multiset does not):
    // sorted, the file is the same bytes for any thread count.
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
  auto m = std::make_unique<impl>();
  // The file stores no device: the model runs where it is loaded.
  m->use_backend(detail::select_backend(device));
  m->stats.device = m->backend.device;
  m->stats.device_fallback_reason = m->backend.fallback_reason;
  reader r(bytes, std::string(what));
  const std::uint32_t sections = r.header();
  auto expect_tag = [&](std::uint32_t want) {
    const std::uint32_t t = r.next_section();
    check(r, t == want, "expected section " + tag_name(want));
  };
  expect_tag(kParams);
  build_params& b = m->p.build;
  selection_params& s = m->p.selection;
  b.min_samples = r.get<std::uint64_t>();
  const auto candidates = r.get<std::uint32_t>();
  check(r, candidates <= 1, "unknown candidate mode " + std::to_string(candidates));
  b.candidates = static_cast<candidate_mode>(candidates);
  b.m = r.get<std::uint64_t>(), b.ef_construction = r.get<std::uint64_t>(), b.seed = r.get<std::uint64_t>();
  b.batch_size = r.get<std::uint64_t>(), b.compaction_factor = r.get<std::uint64_t>(),
  b.compaction_min_edges = r.get<std::uint64_t>();
  s.min_cluster_size = r.get<std::uint64_t>();
  const auto method = r.get<std::uint32_t>();
  check(r, method <= 1, "unknown cluster selection method " + std::to_string(method));
  s.method = static_cast<cluster_selection_method>(method);
  s.cluster_selection_epsilon = r.get<double>();
  s.allow_single_cluster = r.get<std::uint8_t>() != 0;
  b.device = device;
  try {
    validate(m->p);
  } catch (const error& e) {
    r.fail(std::string("bad parameters: ") + e.what());
  }
  r.end_section();

  expect_tag(kData);
  m->data = read_data(r, std::move(data));
  r.end_section();
  const std::size_t n = m->data->size();
  check(r, n >= 2 && n <= 0xFFFFFFFEu && *b.min_samples <= n, "bad item count " + std::to_string(n));

  if (b.candidates == candidate_mode::hnsw) {
    check(r, sections == 5,
          "expected 5 sections for an hnsw model, the header says " + std::to_string(sections));
    m->hnsw.emplace(b, m->backend.ptr);
    detail::hnsw_graph& g = m->hnsw->graph;
    expect_tag(kGraph);
    check(r, r.get<std::uint64_t>() == n, "graph size differs from the data's");
    g.inserted = static_cast<std::size_t>(r.get<std::uint64_t>());
    g.entry = r.get<std::uint32_t>();
    g.max_level = r.get<std::int32_t>();
    check(r, g.inserted == n && g.entry < n && g.max_level >= 0 && g.max_level <= 60, "bad graph header");
    g.grow(n);  // levels and block offsets follow from (seed, id)
    const auto levels = r.fixed<std::uint8_t>(n, "levels");
    check(r, levels == g.level, "levels do not match the seed");
    check(r, g.level[g.entry] == g.max_level, "entry point is not on the top level");
    g.links0 = r.fixed<std::uint32_t>(n * (g.m0 + 1), "layer 0");
    g.upper = r.array<std::uint32_t>("upper layers");
    std::size_t blocks = 0;
    for (std::size_t i = 0; i < n; ++i) blocks += g.level[i];
    check(r, g.upper.size() == blocks * (g.m + 1), "upper layers have the wrong size");
    for (std::size_t i = 0; i < n; ++i)
      for (int l = 0; l <= g.level[i]; ++l) {
        const std::uint32_t* lk = g.links(static_cast<std::uint32_t>(i), l);
        check(r, lk[0] <= (l == 0 ? g.m0 : g.m), "item " + std::to_string(i) + " has too many links");
        for (std::uint32_t k = 0; k < lk[0]; ++k)
          check(r, lk[1 + k] < n && g.level[lk[1 + k]] >= l, "item " + std::to_string(i) + " has a bad link");
      }
    r.end_section();

    expect_tag(kKnn);
    const std::size_t k = m->hnsw->candidates.k();
    check(r, r.get<std::uint64_t>() == n && r.get<std::uint64_t>() == k,
          "k-nearest lists have the wrong shape");
    auto known = r.fixed<std::uint32_t>(n, "counts");
    auto knn_d = r.fixed<float>(n * k, "distances");
    auto knn_id = r.fixed<std::uint32_t>(n * k, "ids");
    for (std::size_t i = 0; i < n; ++i) {
      check(r, known[i] <= k, "item " + std::to_string(i) + " has too many neighbours");
      for (std::size_t j = 0; j < known[i]; ++j)
        check(r, knn_id[i * k + j] < n && knn_d[i * k + j] >= 0,
              "item " + std::to_string(i) + " has a bad neighbour");
    }
    r.end_section();

    expect_tag(kForest);
    auto forest = r.array<detail::raw_edge>("forest");
    auto buffered = r.array<detail::raw_edge>("buffered edges");
    check(r, forest.size() < n, "forest has too many edges");
    for (const auto* edges : {&forest, &buffered})
      for (const auto& e : *edges)
        check(r, e.a < n && e.b < n && e.a != e.b && e.d >= 0,
              "candidate edge (" + std::to_string(e.a) + ", " + std::to_string(e.b) + ") is bad");
    r.end_section();
    m->hnsw->candidates.restore(std::move(knn_d), std::move(knn_id), std::move(known), std::move(forest),
                                std::move(buffered));
    m->hnsw->candidates.set_items_seen(n);
    const auto scope = m->enter();
    m->tree = m->hnsw->candidates.finish();
  } else {
    check(r, sections == 3,
          "expected 3 sections for an exact model, the header says " + std::to_string(sections));
    expect_tag(kTree);
    m->tree.n = n;
    m->tree.core_distances = r.array<float>("core distances");
    m->tree.edges = r.array<mst_edge>("edges");
    check(r, m->tree.core_distances.size() == n && m->tree.edges.size() + 1 == n, "tree has the wrong size");
    r.end_section();
  }
  r.finish();
  try {
    m->extract();  // validates the tree (ids, cycles, distances)
  } catch (const error& e) {
    r.fail(std::string("bad spanning tree: ") + e.what());
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
