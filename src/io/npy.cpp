// chutoro — NumPy .npy reader (format versions 1.0, 2.0, 3.0; see numpy's
// numpy/lib/format.py): magic "\x93NUMPY", version, little-endian header length
// (uint16 for 1.x, uint32 for 2.x/3.x), then a Python dict literal
// {'descr': '<f8', 'fortran_order': False, 'shape': (n, dim), } and the data.
#include <algorithm>
#include <bit>
#include <charconv>
#include <chutoro/error.hpp>
#include <chutoro/io.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "io/io_common.hpp"

namespace chutoro {
namespace {

struct npy_header {
  std::string descr;
  bool structured = false;
  bool fortran_order = false;
  std::vector<std::uint64_t> shape;
  bool has_descr = false, has_fortran = false, has_shape = false;
};

/// Parses the header dict; throws error(parse) with `file` on malformed text.
class header_parser {
 public:
  header_parser(std::string_view text, const std::string& file) : s_(text), file_(file) {}

  npy_header parse() {
    npy_header h;
    ws();
    expect('{');
    for (;;) {
      ws();
      if (peek() == '}') break;
      const std::string key = string_lit();
      ws();
      expect(':');
      ws();
      if (key == "descr") {
        if (peek() == '[') {
          h.structured = true;
          skip_value();
        } else {
          h.descr = string_lit();
        }
        h.has_descr = true;
      } else if (key == "fortran_order") {
        if (word("True")) {
          h.fortran_order = true;
        } else if (word("False")) {
          h.fortran_order = false;
        } else {
          fail("fortran_order is neither True nor False");
        }
        h.has_fortran = true;
      } else if (key == "shape") {
        h.shape = shape_tuple();
        h.has_shape = true;
      } else {
        skip_value();
      }
      ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      ws();
      if (peek() == '}') break;
      fail("expected ',' or '}'");
    }
    if (!h.has_descr || !h.has_fortran || !h.has_shape)
      fail("a key of descr, fortran_order, shape is missing");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw error(error_code::parse,
                file_ + ": malformed .npy header (" + what + "): " + io_detail::quote_text(trimmed(), 120));
  }
  std::string_view trimmed() const {
    std::string_view t = s_;
    while (!t.empty() && (t.back() == ' ' || t.back() == '\n' || t.back() == '\0')) t.remove_suffix(1);
    return t;
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  bool word(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  std::string string_lit() {
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    ++i_;
    const auto end = s_.find(q, i_);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string out(s_.substr(i_, end - i_));
    i_ = end + 1;
    return out;
  }
  std::vector<std::uint64_t> shape_tuple() {
    expect('(');
    std::vector<std::uint64_t> dims;
    for (;;) {
      ws();
      if (peek() == ')') {
        ++i_;
        break;
      }
      if (peek() < '0' || peek() > '9') fail("shape holds a non-integer");
      std::uint64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        const auto digit = static_cast<std::uint64_t>(peek() - '0');
        if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) fail("shape value too large");
        v = v * 10 + digit;
        ++i_;
      }
      if (peek() == 'L') ++i_;  // Python 2 long
      dims.push_back(v);
      ws();
      if (peek() == ',') {
        ++i_;
      } else if (peek() != ')') {
        fail("expected ',' or ')' in shape");
      }
    }
    return dims;
  }
  void skip_value() {
    int depth = 0;
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == '\'' || c == '"') {
        string_lit();
        continue;
      }
      if (c == '(' || c == '[' || c == '{') ++depth;
      if (c == ')' || c == ']' || c == '}') {
        if (depth == 0) return;
        --depth;
      }
      if (c == ',' && depth == 0) return;
      ++i_;
    }
    fail("unterminated value");
  }

  std::string_view s_;
  const std::string& file_;
  std::size_t i_ = 0;
};

std::string shape_string(const std::vector<std::uint64_t>& shape) {
  std::string s = "(";
  for (std::size_t k = 0; k < shape.size(); ++k) s += (k ? ", " : "") + std::to_string(shape[k]);
  if (shape.size() == 1) s += ",";
  return s + ")";
}

/// numpy's name for a simple dtype string such as "<i8" -> "int64".
std::string dtype_name(std::string_view descr) {
  std::string_view d = descr;
  if (!d.empty() && (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=')) d.remove_prefix(1);
  if (d.empty()) return std::string(descr);
  const char kind = d[0];
  const std::string size(d.substr(1));
  // numpy's item sizes have a few digits; more is not a dtype (and would overflow).
  if (size.empty() || size.size() > 6) return std::string(descr);
  int bytes = 0;
  for (char c : size) {
    if (c < '0' || c > '9') return std::string(descr);
    bytes = bytes * 10 + (c - '0');
  }
  const std::string bits = std::to_string(bytes * 8);
  switch (kind) {
    case 'f':
      return "float" + bits;
    case 'i':
      return "int" + bits;
    case 'u':
      return "uint" + bits;
    case 'c':
      return "complex" + bits;
    case 'b':
      return "bool";
    case 'U':
      return "unicode string";
    case 'S':
      return "bytes";
    case 'O':
      return "object";
    case 'M':
      return "datetime64";
    case 'm':
      return "timedelta64";
    default:
      return std::string(descr);
  }
}

template <class T>
T byteswap_value(T v) noexcept {
  unsigned char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  std::reverse(b, b + sizeof(T));
  std::memcpy(&v, b, sizeof(T));
  return v;
}

[[noreturn]] void throw_not_finite(const std::string& file, std::size_t k, std::size_t dim, double v) {
  const std::string where =
      file + ": X[" + std::to_string(k / dim) + ", " + std::to_string(k % dim) + "] (0-based row, column)";
  if (std::isnan(v))
    throw error(error_code::parse, where +
                                       " is NaN; remove or impute missing values (the CLI's --nan-rows noise "
                                       "labels such rows noise instead)");
  if (std::isinf(v)) throw error(error_code::parse, where + " is infinite; values must be finite");
  char num[32];
  const auto r = std::to_chars(num, num + sizeof num, v);
  throw error(error_code::parse, where + " = " + std::string(num, r.ptr) + " is beyond float32's range");
}

}  // namespace

namespace {

/// read_npy over the rows [first, first + count) that `rows` picks from the
/// file's row count n (first <= n, count <= n - first); the trailing-bytes
/// check runs only when the rows reach the end of the data.
template <class RowRange>
dense_table read_npy_rows(const std::filesystem::path& path, RowRange rows, std::size_t* first_row,
                          std::size_t* total_rows, bool missing_as_nan) {
  const std::string file = path.string();
  io_detail::input_file in(path);

  // magic (6 bytes), version (2), header length (2 bytes in version 1, 4 in 2 and 3)
  unsigned char pre[12];
  const std::size_t got = in.read(pre, 10);
  if (got == 0) throw error(error_code::parse, file + ": empty input: the file has no bytes");
  if (std::memcmp(pre, "\x93NUMPY", std::min<std::size_t>(got, 6)) != 0) {
    const io_detail::compression c = io_detail::compression_of(pre, got);
    if (c != io_detail::compression::none)
      throw error(error_code::parse, file + ": the file is " +
                                         (c == io_detail::compression::gzip ? "gzip" : "zstd") +
                                         "-compressed; .npy files are read uncompressed (decompress it "
                                         "first; csv, tsv and lines inputs may be compressed)");
    throw error(error_code::parse,
                file + ": not a .npy file (it does not start with the magic bytes \\x93NUMPY)");
  }
  auto too_short = [&](std::size_t have, std::size_t need, const char* what) {
    throw error(error_code::parse, file + ": truncated: the file is " + std::to_string(have) +
                                       (have == 1 ? " byte" : " bytes") +
                                       " long, too short for a .npy header (" + what + " need " +
                                       std::to_string(need) + " bytes)");
  };
  if (got < 10) {
    too_short(got, 10, "the magic \\x93NUMPY, the version and a version 1.0 header length");
  }
  const int major = pre[6];
  const int minor = pre[7];
  std::size_t header_len = 0;
  std::size_t prefix = 10;
  if (major == 1) {
    header_len = static_cast<std::size_t>(pre[8]) | (static_cast<std::size_t>(pre[9]) << 8);
  } else if (major == 2 || major == 3) {
    prefix = 12;
    const std::size_t more = in.read(pre + 10, 2);
    if (more != 2) too_short(10 + more, 12, "the magic, the version and a version 2.0/3.0 header length");
    header_len = static_cast<std::size_t>(pre[8]) | (static_cast<std::size_t>(pre[9]) << 8) |
                 (static_cast<std::size_t>(pre[10]) << 16) | (static_cast<std::size_t>(pre[11]) << 24);
  } else {
    throw error(error_code::parse, file + ": unsupported .npy format version " + std::to_string(major) + "." +
                                       std::to_string(minor) + " (1.0, 2.0 and 3.0 are supported)");
  }
  if (header_len > (std::size_t{1} << 24)) {
    throw error(error_code::parse, file + ": malformed .npy header: its length field says " +
                                       std::to_string(header_len) + " bytes, more than the 16 MiB allowed");
  }
  if (in.size_hint() >= prefix && in.size_hint() - prefix < header_len) {
    throw error(error_code::parse, file + ": truncated .npy header: the header length field says " +
                                       std::to_string(header_len) + " bytes, but the file holds " +
                                       std::to_string(in.size_hint() - prefix) + " after byte " +
                                       std::to_string(prefix));
  }
  std::string header(header_len, '\0');
  if (const std::size_t have = in.read(header.data(), header_len); have != header_len) {
    throw error(error_code::parse, file + ": truncated .npy header: the header length field says " +
                                       std::to_string(header_len) + " bytes, but only " +
                                       std::to_string(have) + " follow");
  }
  const npy_header h = header_parser(header, file).parse();

  // ---- dtype, rank, order
  if (h.structured) {
    throw error(error_code::type_mismatch, file +
                                               ": structured dtype (a list of fields) is not supported; "
                                               "need a plain float32 or float64 array");
  }
  const std::string& d = h.descr;
  const bool little = d.size() == 3 && (d[0] == '<' || d[0] == '=' || d[0] == '|');
  const bool big = d.size() == 3 && d[0] == '>';
  const bool f4 = (little || big) && d.substr(1) == "f4";
  const bool f8 = (little || big) && d.substr(1) == "f8";
  if (!f4 && !f8) {
    const std::string name = dtype_name(d);
    throw error(error_code::type_mismatch,
                file + ": dtype " +
                    (name == d ? io_detail::quote_text(d) : name + " (" + io_detail::quote_text(d) + ")") +
                    " is not supported; need float32 ('<f4') or float64 ('<f8'), "
                    "e.g. save X.astype(np.float32)");
  }
  static_assert(std::endian::native == std::endian::little, "the .npy reader assumes a little-endian host");
  const bool swap = big;
  if (h.shape.size() != 2) {
    throw error(error_code::type_mismatch, file + ": array has rank " + std::to_string(h.shape.size()) +
                                               " (shape " + shape_string(h.shape) +
                                               "); need a 2-D array of shape (n, dim)");
  }
  if (h.fortran_order) {
    throw error(error_code::type_mismatch, file +
                                               ": array is in Fortran order; save a C-order array "
                                               "(np.save(path, np.ascontiguousarray(X)))");
  }
  const std::uint64_t n = h.shape[0];
  const std::uint64_t dim = h.shape[1];
  if (n == 0 || dim == 0) {
    throw error(error_code::parse, file + ": empty input: array of shape " + shape_string(h.shape) +
                                       " has no " + (n == 0 ? "rows" : "columns"));
  }
  const std::size_t item = f4 ? 4 : 8;
  if (dim > std::numeric_limits<std::size_t>::max() / item / n) {
    throw error(error_code::parse, file + ": shape " + shape_string(h.shape) + " is too large");
  }
  const std::size_t total = static_cast<std::size_t>(n * dim);
  const auto [first, rows_read] = rows(static_cast<std::size_t>(n));
  if (first_row) *first_row = first;
  if (total_rows) *total_rows = static_cast<std::size_t>(n);
  const std::size_t count = rows_read * static_cast<std::size_t>(dim);  // values read
  const std::size_t base = first * static_cast<std::size_t>(dim);       // values skipped

  dense_table t;
  t.n = rows_read;
  t.dim = static_cast<std::size_t>(dim);

  auto truncated = [&](std::size_t have_items) {
    throw error(error_code::parse, file + ": truncated data: the header promises shape " +
                                       shape_string(h.shape) + " of " + dtype_name(d) + " (" +
                                       std::to_string(total * item) + " bytes) but only " +
                                       std::to_string(have_items * item) + " bytes or fewer follow");
  };
  // Nothing is allocated for the shape before the file is known to hold it:
  // a regular file's size says so at once; other files grow chunk by chunk.
  const std::size_t data_at = prefix + header_len;
  if (in.size_hint() > 0) {
    const std::size_t have = in.size_hint() >= data_at ? in.size_hint() - data_at : 0;
    if (have / item < total) truncated(have / item);
    t.values.reserve(count);
  }
  if (base > 0 && in.skip(base * item) != base * item) truncated(0);

  constexpr std::size_t chunk = std::size_t{1} << 16;
  if (f4) {
    for (std::size_t k0 = 0; k0 < count; k0 += chunk) {
      const std::size_t m = std::min(chunk, count - k0);
      t.values.resize(k0 + m);
      const std::size_t bytes = in.read(t.values.data() + k0, m * 4);
      if (bytes != m * 4) truncated(base + k0 + bytes / 4);
      for (std::size_t k = k0; k < k0 + m; ++k) {
        float v = t.values[k];
        if (swap) t.values[k] = v = byteswap_value(v);
        if (!std::isfinite(v) && !(missing_as_nan && std::isnan(v)))
          throw_not_finite(file, base + k, t.dim, v);
      }
    }
  } else {
    std::vector<double> buf(std::min(chunk, count));
    for (std::size_t k0 = 0; k0 < count; k0 += chunk) {
      const std::size_t m = std::min(chunk, count - k0);
      const std::size_t bytes = in.read(buf.data(), m * 8);
      if (bytes != m * 8) truncated(base + k0 + bytes / 8);
      t.values.resize(k0 + m);
      for (std::size_t k = 0; k < m; ++k) {
        double v = buf[k];
        if (swap) v = byteswap_value(v);
        const auto f = static_cast<float>(v);
        if (!std::isfinite(f) && !(missing_as_nan && std::isnan(v)))
          throw_not_finite(file, base + k0 + k, t.dim, v);
        t.values[k0 + k] = f;
      }
    }
  }
  t.columns.reserve(t.dim);  // after the data: dim is known to be real
  for (std::size_t j = 0; j < t.dim; ++j) t.columns.push_back(std::to_string(j));
  char extra = 0;
  if (base + count == total && in.read(&extra, 1) != 0) {
    throw error(error_code::parse, file + ": bytes follow the data that the header's shape " +
                                       shape_string(h.shape) + " and dtype " + dtype_name(d) +
                                       " account for; the header or the file is wrong");
  }
  return t;
}

}  // namespace

dense_table read_npy(const std::filesystem::path& path, bool missing_as_nan) {
  return read_npy_rows(
      path,
      [](std::size_t n) {
        return std::pair<std::size_t, std::size_t>{0, n};
      },
      nullptr, nullptr, missing_as_nan);
}

npy_part read_npy_part(const std::filesystem::path& path, std::size_t part, std::size_t parts) {
  expects(parts >= 1 && part < parts, error_code::invalid_argument,
          path.string() + ": part " + std::to_string(part) + " of " + std::to_string(parts) +
              " does not exist (parts are numbered 0 .. parts - 1)");
  npy_part r;
  r.table = read_npy_rows(
      path,
      [&](std::size_t n) {
        // Rows [part * n / parts, (part + 1) * n / parts), without overflow.
        const auto at = [&](std::size_t q) { return (n / parts) * q + (n % parts) * q / parts; };
        return std::pair<std::size_t, std::size_t>{at(part), at(part + 1) - at(part)};
      },
      &r.first_row, &r.total_rows, false);
  return r;
}

}  // namespace chutoro
