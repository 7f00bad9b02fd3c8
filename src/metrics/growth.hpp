// chutoro — shared pieces of the built-in sources' growth (data_source::append,
// check_compatible, cross_distance): the type_mismatch message naming both
// sources, and geometric growth of std::vector storage.
#pragma once

#include <algorithm>
#include <chutoro/data_source.hpp>
#include <chutoro/error.hpp>
#include <chutoro/metrics.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace chutoro::detail {

/// The class of a source for messages: "dense_source", "string_source", ...
/// (from data_source::kind()), or "a source of another kind" for anything
/// that is not built in.
inline std::string_view source_class_name(const data_source& s) noexcept {
  switch (s.kind()) {
    case source_kind::dense:
      return "dense_source";
    case source_kind::strings:
      return "string_source";
    case source_kind::sets:
      return "set_source";
    case source_kind::bits:
      return "bit_source";
    case source_kind::products:
      return "product_source";
    case source_kind::sparse:
      return "sparse_source";
    case source_kind::external:
      break;
  }
  return "a source of another kind";
}

/// "'euclidean' (dense_source, dim 8)".
inline std::string describe_source(const data_source& s) {
  std::string out(1, '\'');  // appended piece by piece: GCC 12 warns (-Wrestrict) on "'" + std::string
  out += s.name();
  out += "' (";
  out += source_class_name(s);
  out += ", dim ";
  out += std::to_string(s.dim());
  out += ')';
  return out;
}

/// Throws error(type_mismatch) naming both sources and the first difference
/// (kind, then metric, then dimension) unless all three agree.
inline void expect_compatible(const data_source& self, const data_source& other, bool same_kind,
                              bool same_metric, bool same_dim) {
  if (same_kind && same_metric && same_dim) return;
  const char* what = !same_kind ? "kind" : !same_metric ? "metric" : "dimension";
  throw error(error_code::type_mismatch,
              std::string("incompatible data sources: different ") + what + " (this source is " +
                  describe_source(self) + ", the other is " + describe_source(other) +
                  "); append() and cross_distance() need a source of the same kind, metric and dimension");
}

/// Makes room for `need` elements with geometric (doubling) growth, so that
/// repeated small appends cost amortised O(appended). Changes no element; may
/// throw std::bad_alloc (then nothing changed).
template <class T>
void reserve_geometric(std::vector<T>& v, std::size_t need) {
  if (need > v.capacity()) v.reserve(std::max(need, 2 * v.capacity()));
}

}  // namespace chutoro::detail
