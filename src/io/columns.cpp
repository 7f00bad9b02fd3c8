// chutoro — one column from Arrow C data interface arrays (no Arrow library needed).
#include <chutoro/arrow.hpp>
#include <chutoro/error.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

namespace chutoro {

namespace {

bool valid_at(const ArrowArray& a, std::int64_t i) noexcept {
  if (a.null_count == 0 || a.n_buffers < 1 || a.buffers[0] == nullptr) return true;
  const auto* bits = static_cast<const std::uint8_t*>(a.buffers[0]);
  const std::int64_t k = a.offset + i;
  return ((bits[k >> 3] >> (k & 7)) & 1) != 0;
}

template <class Offset>
Offset offset_at(const ArrowArray& a, std::int64_t i) noexcept {
  return static_cast<const Offset*>(a.buffers[1])[a.offset + i];
}

std::string type_text(const ArrowSchema& s) {
  std::string t = s.format ? s.format : "(null)";
  if (s.n_children == 1 && s.children && s.children[0] && s.children[0]->format) {
    t += "<";
    t += s.children[0]->format;
    t += ">";
  }
  return t;
}

}  // namespace

void arrow_column_builder::append(const ArrowSchema& schema, const ArrowArray& array) {
  const std::string where = what_ + ": ";
  auto row_text = [&](std::int64_t r) {
    return "row " + std::to_string(first_row_ + rows_ + static_cast<std::size_t>(r));
  };
  expects(schema.format != nullptr, error_code::type_mismatch, where + "Arrow schema without a format");
  expects(schema.dictionary == nullptr && array.dictionary == nullptr, error_code::type_mismatch,
          where + "dictionary-encoded columns are not supported; decode the column first");
  const std::string_view fmt = schema.format;
  const std::int64_t n = array.length;
  expects(n >= 0 && array.offset >= 0, error_code::parse,
          where + "Arrow array with a negative length or offset");

  const bool is_string = fmt == "u" || fmt == "U";
  const bool is_fixed = fmt.rfind("+w:", 0) == 0;
  const bool is_list = fmt == "+l" || fmt == "+L";
  if (!is_string && !is_fixed && !is_list) {
    throw error(error_code::type_mismatch,
                where + "column type '" + type_text(schema) +
                    "' is not supported; expected fixed_size_list<float32|float64>, list<float32|float64> or "
                    "string (Arrow format +w:D, +l, +L, u, U)");
  }
  const column_data::kind kind = is_string ? column_data::kind::strings : column_data::kind::dense;
  if (started_ && kind != out_.type) {
    throw error(error_code::type_mismatch, where + "chunks of one column have different types");
  }
  out_.type = kind;

  if (is_string) {
    expects(array.n_buffers >= 3 && array.buffers[1] != nullptr, error_code::parse,
            where + "malformed Arrow string array (missing buffers)");
    const auto* data = static_cast<const char*>(array.buffers[2]);
    out_.strings.reserve(out_.strings.size() + static_cast<std::size_t>(n));
    for (std::int64_t r = 0; r < n; ++r) {
      if (!valid_at(array, r)) throw error(error_code::parse, where + row_text(r) + " is null");
      std::int64_t b, e;
      if (fmt == "u") {
        b = offset_at<std::int32_t>(array, r);
        e = offset_at<std::int32_t>(array, r + 1);
      } else {
        b = offset_at<std::int64_t>(array, r);
        e = offset_at<std::int64_t>(array, r + 1);
      }
      expects(b >= 0 && e >= b && (e == b || data != nullptr), error_code::parse,
              where + row_text(r) + ": malformed string offsets");
      out_.strings.emplace_back(e > b ? data + b : "", static_cast<std::size_t>(e - b));
    }
    started_ = true;
    rows_ += static_cast<std::size_t>(n);
    return;
  }

  // Lists of floats.
  expects(schema.n_children == 1 && schema.children && schema.children[0] && schema.children[0]->format &&
              array.n_children == 1 && array.children && array.children[0],
          error_code::parse, where + "malformed Arrow list (no child array)");
  const ArrowSchema& child_schema = *schema.children[0];
  const ArrowArray& child = *array.children[0];
  const std::string_view child_fmt = child_schema.format;
  const bool f32 = child_fmt == "f";
  if (!f32 && child_fmt != "g") {
    throw error(error_code::type_mismatch, where + "column type '" + type_text(schema) +
                                               "': list values must be float32 or float64 (format f or g)");
  }
  expects(child.n_buffers >= 2 && (child.length == 0 || child.buffers[1] != nullptr), error_code::parse,
          where + "malformed Arrow list values (missing buffers)");

  std::int64_t fixed_dim = -1;
  if (is_fixed) {
    const std::string_view d = fmt.substr(3);
    fixed_dim = 0;
    for (const char c : d) {
      expects(c >= '0' && c <= '9', error_code::parse,
              where + "bad fixed_size_list format '" + std::string(fmt) + "'");
      fixed_dim = fixed_dim * 10 + (c - '0');
    }
    expects(fixed_dim >= 1, error_code::parse,
            where + "fixed_size_list of size 0: items need at least one value");
  } else {
    expects(array.n_buffers >= 2 && array.buffers[1] != nullptr, error_code::parse,
            where + "malformed Arrow list (no offsets)");
  }

  auto& t = out_.dense;
  for (std::int64_t r = 0; r < n; ++r) {
    if (!valid_at(array, r)) throw error(error_code::parse, where + row_text(r) + " is null");
    std::int64_t b, e;
    if (is_fixed) {
      b = (array.offset + r) * fixed_dim;
      e = b + fixed_dim;
    } else if (fmt == "+l") {
      b = offset_at<std::int32_t>(array, r);
      e = offset_at<std::int32_t>(array, r + 1);
    } else {
      b = offset_at<std::int64_t>(array, r);
      e = offset_at<std::int64_t>(array, r + 1);
    }
    expects(b >= 0 && e >= b && e <= child.length, error_code::parse,
            where + row_text(r) + ": malformed list offsets");
    const auto len = static_cast<std::size_t>(e - b);
    if (t.dim == 0) {
      expects(len >= 1, error_code::parse,
              where + row_text(r) + " is an empty list; items need at least one value");
      t.dim = len;
    }
    if (len != t.dim) {
      throw error(error_code::parse, where + row_text(r) + " has " + std::to_string(len) + " values, row " +
                                         std::to_string(first_row_) + " has " + std::to_string(t.dim) +
                                         " (every list must have the same length)");
    }
    for (std::int64_t k = b; k < e; ++k) {
      if (!valid_at(child, k))
        throw error(error_code::parse, where + row_text(r) + ", value " + std::to_string(k - b) + " is null");
      double v;
      if (f32) {
        v = static_cast<const float*>(child.buffers[1])[child.offset + k];
      } else {
        v = static_cast<const double*>(child.buffers[1])[child.offset + k];
      }
      if (!std::isfinite(v) || std::fabs(v) > std::numeric_limits<float>::max()) {
        throw error(error_code::parse, where + row_text(r) + ", value " + std::to_string(k - b) + " is " +
                                           (std::isnan(v)   ? "NaN"
                                            : std::isinf(v) ? "infinite"
                                                            : "beyond float32's range"));
      }
      t.values.push_back(static_cast<float>(v));
    }
    ++t.n;
  }
  started_ = true;
  rows_ += static_cast<std::size_t>(n);
}

column_data arrow_column_builder::finish(std::string name) && {
  expects(rows_ > 0, error_code::parse, what_ + ": the column has no rows");
  out_.name = std::move(name);
  return std::move(out_);
}

}  // namespace chutoro
