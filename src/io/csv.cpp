// chutoro — CSV reader (RFC 4180 quoting, header row, numeric feature columns).
//
// The file is read at once and scanned in one pass; numbers are parsed in place
// with std::from_chars. Lines end with "\n", "\r\n" or a lone "\r" (old Mac
// files). Line numbers in messages are 1-based, counting every line end (also
// those inside quoted cells), as a text editor shows them.
#include <algorithm>
#include <charconv>
#include <chutoro/error.hpp>
#include <chutoro/io.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <system_error>

#include "io/io_common.hpp"
#include "io/parse.hpp"

namespace chutoro {
namespace {

using io_detail::quote_text;

enum class field_end { comma, record, eof };

/// Blanks trimmed around unquoted cells: spaces, and tabs unless the delimiter is a tab.
bool is_blank(char c, char delim = ',') noexcept { return c == ' ' || (c == '\t' && delim != '\t'); }

std::string_view trim(std::string_view s, char delim) noexcept {
  while (!s.empty() && is_blank(s.front(), delim)) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back(), delim)) s.remove_suffix(1);
  return s;
}

/// One pass over the bytes of a CSV file.
class csv_scanner {
 public:
  csv_scanner(std::string_view text, const std::string& file, char delim)
      : p_(text.data()), end_(p_ + text.size()), file_(file), delim_(delim) {}

  /// Skips empty lines; false at end of input.
  bool next_record() {
    while (p_ < end_) {
      if (*p_ != '\n' && *p_ != '\r') return true;
      skip_line_end();
    }
    return false;
  }

  /// Parses the next field. `out` views the input (unquoted cells, trimmed of
  /// spaces and tabs) or `scratch_` (quoted cells, verbatim after unquoting).
  field_end next_field(std::string_view& out) {
    const char* s = p_;
    while (s < end_ && is_blank(*s, delim_)) ++s;
    if (s < end_ && *s == '"') {
      p_ = s;
      return quoted_field(out);
    }
    const char* q = p_;
    while (q < end_ && *q != delim_ && *q != '\n' && *q != '\r') ++q;
    const std::string_view cell(p_, static_cast<std::size_t>(q - p_));
    p_ = q;
    out = trim(cell, delim_);
    return finish_field();
  }

  [[nodiscard]] std::size_t line() const noexcept { return line_; }

 private:
  /// Steps over the line end at p_: "\r\n", "\n" or a lone "\r".
  void skip_line_end() noexcept {
    if (*p_ == '\r' && p_ + 1 < end_ && p_[1] == '\n') ++p_;
    ++p_;
    ++line_;
  }

  field_end finish_field() {
    if (p_ == end_) return field_end::eof;
    if (*p_ == delim_) {
      ++p_;
      return field_end::comma;
    }
    skip_line_end();
    return field_end::record;
  }

  /// Line ends in [b, e): "\n", "\r\n" and lone "\r" each count once.
  static std::size_t line_ends(const char* b, const char* e) noexcept {
    std::size_t k = 0;
    for (const char* c = b; c < e; ++c)
      if (*c == '\n' || (*c == '\r' && (c + 1 == e || c[1] != '\n'))) ++k;
    return k;
  }

  field_end quoted_field(std::string_view& out) {
    const std::size_t open_line = line_;
    ++p_;  // opening quote
    scratch_.clear();
    for (;;) {
      const auto* q = static_cast<const char*>(std::memchr(p_, '"', static_cast<std::size_t>(end_ - p_)));
      if (q == nullptr) {
        throw error(error_code::parse, file_ + ": line " + std::to_string(open_line) +
                                           ": a quoted cell is never closed (missing '\"')");
      }
      line_ += line_ends(p_, q);
      scratch_.append(p_, q);
      p_ = q + 1;
      if (p_ < end_ && *p_ == '"') {  // "" is an escaped quote
        scratch_ += '"';
        ++p_;
        continue;
      }
      break;
    }
    while (p_ < end_ && is_blank(*p_, delim_)) ++p_;
    if (p_ < end_ && *p_ != delim_ && *p_ != '\n' && *p_ != '\r') {
      const char* e = p_;
      while (e < end_ && *e != delim_ && *e != '\n' && *e != '\r') ++e;
      throw error(error_code::parse,
                  file_ + ": line " + std::to_string(line_) + ": unexpected text " +
                      quote_text(std::string_view(p_, static_cast<std::size_t>(e - p_)), 20) +
                      " after the closing quote of a quoted cell (write \"\" for a quote "
                      "inside a quoted cell)");
    }
    out = scratch_;
    return finish_field();
  }

  const char* p_;
  const char* end_;
  const std::string& file_;
  char delim_;
  std::size_t line_ = 1;
  std::string scratch_;
};

std::string place(const std::string& file, std::size_t line, std::size_t col, const std::string& name) {
  return file + ": line " + std::to_string(line) + ", column " + std::to_string(col + 1) + " (" +
         quote_text(name) + ")";
}

enum class number_status { ok, empty, not_a_number, nan, inf, out_of_range };

/// Parses a trimmed cell as a finite float32.
number_status parse_float(std::string_view cell, float& value) noexcept {
  if (cell.empty()) return number_status::empty;
  const char* b = cell.data();
  const char* e = b + cell.size();
  if (*b == '+') {
    ++b;
    if (b == e || *b == '-' || *b == '+') return number_status::not_a_number;
  }
  auto [ptr, ec] = std::from_chars(b, e, value);
  if (ec == std::errc::result_out_of_range) {
    // Underflow rounds to zero / a subnormal; overflow is an error.
    double d = 0;
    auto [ptr2, ec2] = std::from_chars(b, e, d);
    if (ptr2 != e) return number_status::not_a_number;
    if (ec2 == std::errc{} && std::abs(d) < 1.0) {
      value = static_cast<float>(d);
      return number_status::ok;
    }
    if (ec2 == std::errc::result_out_of_range) {
      // Still out of range as a double: decide over- or underflow by the exponent sign.
      const std::string_view rest(b, static_cast<std::size_t>(e - b));
      const auto epos = rest.find_first_of("eE");
      if (epos != std::string_view::npos && epos + 1 < rest.size() && rest[epos + 1] == '-') {
        value = 0.0f;
        return number_status::ok;
      }
    }
    return number_status::out_of_range;
  }
  if (ec != std::errc{} || ptr != e) return number_status::not_a_number;
  if (std::isnan(value)) return number_status::nan;
  if (std::isinf(value)) return number_status::inf;
  return number_status::ok;
}

[[noreturn]] void throw_bad_cell(number_status st, const std::string& where, std::string_view cell) {
  switch (st) {
    case number_status::empty:
      throw error(error_code::parse,
                  where +
                      ": empty cell (missing value); every feature cell needs a number (the "
                      "CLI's --nan-rows noise labels such rows noise instead)");
    case number_status::nan:
      throw error(error_code::parse, where + ": NaN value " + quote_text(cell) +
                                         "; remove or impute missing values before clustering (the CLI's "
                                         "--nan-rows noise labels such rows noise instead)");
    case number_status::inf:
      throw error(error_code::parse,
                  where + ": infinite value " + quote_text(cell) + "; values must be finite");
    case number_status::out_of_range:
      throw error(error_code::parse, where + ": value " + quote_text(cell) + " is beyond float32's range");
    default:
      throw error(error_code::parse,
                  where + ": non-numeric value " + quote_text(cell) +
                      "; feature columns must hold numbers (a class column can be "
                      "named as the label column, --label-column in the CLI, or skipped, --ignore-columns)");
  }
}

}  // namespace

dense_table read_csv(const std::filesystem::path& path, std::optional<std::string_view> label_column,
                     const csv_options& options) {
  csv_options o = options;
  if (o.delimiter == 0) o.delimiter = default_delimiter(path);
  return io_detail::parse_csv(io_detail::read_whole_input(path), path.string(), label_column, o);
}

char default_delimiter(const std::filesystem::path& path) {
  std::filesystem::path p = path;
  if (p.extension() == ".gz" || p.extension() == ".zst") p = p.stem();
  const std::string ext = p.extension().string();
  return ext == ".tsv" || ext == ".tab" ? '\t' : ',';
}

dense_table io_detail::parse_csv(std::string_view bytes, const std::string& file,
                                 std::optional<std::string_view> label_column, const csv_options& options) {
  const char delimiter = options.delimiter == 0 ? ',' : options.delimiter;
  const bool missing_as_nan = options.missing_as_nan;
  expects(delimiter != '"' && delimiter != '\n' && delimiter != '\r' && delimiter != 0 && delimiter != ' ',
          error_code::invalid_argument, file + ": the delimiter cannot be a quote, a space or a line end");
  const std::string_view text = io_detail::strip_bom(bytes);
  csv_scanner scan(text, file, delimiter);

  // ---- header
  if (!scan.next_record()) {
    throw error(error_code::parse, file + ": empty input: no header row and no data");
  }
  const std::size_t header_line = scan.line();
  std::vector<std::string> names;
  for (;;) {
    std::string_view cell;
    const field_end fe = scan.next_field(cell);
    names.emplace_back(cell);
    if (fe != field_end::comma) break;
  }
  const std::size_t ncols = names.size();

  // A header is required: reject a first row of numbers (but accept pandas'
  // default column names 0, 1, ..., ncols-1).
  {
    bool all_numeric = true;
    bool pandas_names = true;
    for (std::size_t j = 0; j < ncols; ++j) {
      float v = 0;
      if (parse_float(names[j], v) != number_status::ok) all_numeric = false;
      if (names[j] != std::to_string(j)) pandas_names = false;
    }
    if (all_numeric && !pandas_names) {
      throw error(error_code::parse, file + ": line " + std::to_string(header_line) +
                                         ": the first row holds only numbers (" + quote_text(names[0]) +
                                         ", ...); a header row with column names is required");
    }
  }

  std::size_t label_idx = ncols;  // ncols = none
  if (label_column) {
    for (std::size_t j = 0; j < ncols; ++j) {
      if (names[j] != *label_column) continue;
      if (label_idx != ncols) {
        throw error(error_code::invalid_argument, file + ": label column " + quote_text(*label_column) +
                                                      " appears twice in the header (columns " +
                                                      std::to_string(label_idx + 1) + " and " +
                                                      std::to_string(j + 1) + ")");
      }
      label_idx = j;
    }
    if (label_idx == ncols) {
      std::string list;
      const std::size_t shown = std::min<std::size_t>(ncols, 12);
      for (std::size_t j = 0; j < shown; ++j) list += (j ? ", " : "") + quote_text(names[j]);
      if (shown < ncols) list += ", ... (" + std::to_string(ncols) + " columns)";
      throw error(error_code::invalid_argument, file + ": label column " + quote_text(*label_column) +
                                                    " is not in the header; columns: " + list);
    }
  }

  // ---- column selection (csv_options::columns / ignore_columns): skipped cells are not parsed
  std::vector<char> skip(ncols, 0);
  auto find_names = [&](const std::vector<std::string>& wanted, const char* option) {
    std::vector<char> hit(ncols, 0);
    for (const std::string& w : wanted) {
      const auto it = std::find(names.begin(), names.end(), w);
      if (it == names.end()) {
        std::string list;
        const std::size_t shown = std::min<std::size_t>(ncols, 12);
        for (std::size_t j = 0; j < shown; ++j) list += (j ? ", " : "") + quote_text(names[j]);
        if (shown < ncols) list += ", ... (" + std::to_string(ncols) + " columns)";
        throw error(error_code::invalid_argument, file + ": " + option + " names " + quote_text(w) +
                                                      ", which is not in the header; columns: " + list);
      }
      hit[static_cast<std::size_t>(it - names.begin())] = 1;
    }
    return hit;
  };
  if (!options.columns.empty()) {
    const std::vector<char> keep = find_names(options.columns, "the column selection (--columns)");
    for (std::size_t j = 0; j < ncols; ++j) skip[j] = !keep[j] && j != label_idx;
  }
  if (!options.ignore_columns.empty()) {
    const std::vector<char> drop =
        find_names(options.ignore_columns, "the ignored columns (--ignore-columns)");
    for (std::size_t j = 0; j < ncols; ++j) skip[j] = skip[j] || (drop[j] && j != label_idx);
  }

  dense_table t;
  t.dim = 0;
  for (std::size_t j = 0; j < ncols; ++j) t.dim += j != label_idx && !skip[j];
  if (t.dim == 0) {
    throw error(error_code::parse, file + ": no feature columns (the header names only the label column " +
                                       quote_text(names[label_idx < ncols ? label_idx : 0]) +
                                       ", or every other column is skipped)");
  }
  t.columns.reserve(t.dim);
  for (std::size_t j = 0; j < ncols; ++j) {
    if (j != label_idx && !skip[j]) t.columns.push_back(names[j]);
  }

  // ---- data rows
  const auto est_rows = static_cast<std::size_t>(std::max(std::count(text.begin(), text.end(), '\n'),
                                                          std::count(text.begin(), text.end(), '\r'))) +
                        1;
  t.values.reserve(est_rows * t.dim);
  if (label_idx < ncols) t.labels.reserve(est_rows);

  while (scan.next_record()) {
    const std::size_t row_line = scan.line();
    std::size_t col = 0;
    for (;;) {
      std::string_view cell;
      const field_end fe = scan.next_field(cell);
      if (col < ncols && !skip[col]) {
        if (col == label_idx) {
          t.labels.emplace_back(cell);
        } else {
          float v = 0;
          const number_status st = parse_float(cell, v);
          if (missing_as_nan && (st == number_status::empty || st == number_status::nan)) {
            v = std::numeric_limits<float>::quiet_NaN();
          } else if (st != number_status::ok) {
            throw_bad_cell(st, place(file, row_line, col, names[col]), cell);
          }
          t.values.push_back(v);
        }
      }
      ++col;
      if (fe != field_end::comma) break;
    }
    if (col != ncols) {
      throw error(error_code::parse, file + ": line " + std::to_string(row_line) + " has " +
                                         std::to_string(col) + (col == 1 ? " cell" : " cells") +
                                         " but the header (line " + std::to_string(header_line) + ") has " +
                                         std::to_string(ncols) + "; every row needs one cell per column");
    }
    ++t.n;
  }
  if (t.n == 0) {
    throw error(error_code::parse, file + ": empty input: no data rows after the header (line " +
                                       std::to_string(header_line) + ")");
  }
  t.values.shrink_to_fit();
  return t;
}

}  // namespace chutoro
