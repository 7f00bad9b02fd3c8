// Levenshtein distance over Unicode code points (Wagner-Fischer, one row).
#include <algorithm>
#include <chutoro/data_source.hpp>
#include <chutoro/error.hpp>
#include <string>

#include "metrics/growth.hpp"

namespace chutoro {

namespace {

// Bit-parallel edit distance (Myers 1999, in Hyyro's 2001 formulation for the
// global distance): one 64-bit word holds the vertical deltas of a column for
// a pattern of up to 64 code points; O(|text|) word operations after an
// O(|pattern|) set-up of the match masks. Code points below 256 index a table;
// the rest go through a short list.
std::uint32_t levenshtein_myers64(std::span<const char32_t> pattern, std::span<const char32_t> text) {
  const std::size_t m = pattern.size();
  std::uint64_t ascii[256];
  std::pair<char32_t, std::uint64_t> other[64];
  std::size_t n_other = 0;
  for (char32_t c : pattern)
    if (c < 256) ascii[c] = 0;
  for (std::size_t i = 0; i < m; ++i) {
    const char32_t c = pattern[i];
    if (c < 256) {
      ascii[c] |= std::uint64_t{1} << i;
      continue;
    }
    std::size_t k = 0;
    while (k < n_other && other[k].first != c) ++k;
    if (k == n_other) other[n_other++] = {c, 0};
    other[k].second |= std::uint64_t{1} << i;
  }
  std::uint64_t pv = ~std::uint64_t{0}, mv = 0;
  const std::uint64_t last = std::uint64_t{1} << (m - 1);
  std::uint32_t score = static_cast<std::uint32_t>(m);
  // Entries of `ascii` for bytes absent from the pattern are read only through `seen`.
  std::uint64_t seen[4] = {0, 0, 0, 0};
  for (char32_t c : pattern)
    if (c < 256) seen[c >> 6] |= std::uint64_t{1} << (c & 63);
  for (char32_t c : text) {
    std::uint64_t eq = 0;
    if (c < 256) {
      if (seen[c >> 6] >> (c & 63) & 1) eq = ascii[c];
    } else {
      for (std::size_t k = 0; k < n_other; ++k)
        if (other[k].first == c) {
          eq = other[k].second;
          break;
        }
    }
    const std::uint64_t xv = eq | mv;
    const std::uint64_t xh = (((eq & pv) + pv) ^ pv) | eq;
    std::uint64_t ph = mv | ~(xh | pv);
    std::uint64_t mh = pv & xh;
    if (ph & last) ++score;
    if (mh & last) --score;
    ph = (ph << 1) | 1;
    mh <<= 1;
    pv = mh | ~(xv | ph);
    mv = ph & xv;
  }
  return score;
}

}  // namespace

std::uint32_t levenshtein(std::span<const char32_t> a, std::span<const char32_t> b) {
  // Strip the common prefix and suffix: they never change the distance.
  while (!a.empty() && !b.empty() && a.front() == b.front()) a = a.subspan(1), b = b.subspan(1);
  while (!a.empty() && !b.empty() && a.back() == b.back())
    a = a.first(a.size() - 1), b = b.first(b.size() - 1);
  if (a.size() < b.size()) std::swap(a, b);  // b is the shorter: one row of |b| + 1
  if (b.empty()) return static_cast<std::uint32_t>(a.size());
  if (b.size() <= 64) return levenshtein_myers64(b, a);
  constexpr std::size_t kStack = 128;
  std::uint32_t stack_row[kStack + 1];
  std::vector<std::uint32_t> heap_row;
  std::uint32_t* row = stack_row;
  if (b.size() > kStack) {
    heap_row.resize(b.size() + 1);
    row = heap_row.data();
  }
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = static_cast<std::uint32_t>(j);
  for (std::size_t i = 0; i < a.size(); ++i) {
    std::uint32_t diag = row[0];
    row[0] = static_cast<std::uint32_t>(i + 1);
    const char32_t ca = a[i];
    for (std::size_t j = 0; j < b.size(); ++j) {
      const std::uint32_t up = row[j + 1];
      const std::uint32_t sub = diag + (ca != b[j] ? 1u : 0u);
      row[j + 1] = std::min({up + 1, row[j] + 1, sub});
      diag = up;
    }
  }
  return row[b.size()];
}

string_source::string_source(std::span<const std::string> items)
    : data_source(source_kind::strings, builtin_key{}) {
  expects(!items.empty(), error_code::invalid_argument, "string_source: no items (empty input)");
  offsets_.reserve(items.size() + 1);
  offsets_.push_back(0);
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto cps = decode_utf8(items[i], "item " + std::to_string(i) + " (0-based)");
    codepoints_.insert(codepoints_.end(), cps.begin(), cps.end());
    offsets_.push_back(codepoints_.size());
  }
}

float string_source::distance(std::size_t i, std::size_t j) const {
  return static_cast<float>(levenshtein(item(i), item(j)));
}

void string_source::check_compatible(const data_source& other) const {
  const bool same = other.kind() == source_kind::strings;
  detail::expect_compatible(*this, other, same, same, same);
}

float string_source::cross_distance(const data_source& other, std::size_t i, std::size_t j) const {
  const auto& o = static_cast<const string_source&>(other);
  return static_cast<float>(levenshtein(o.item(i), item(j)));
}

void string_source::append(const data_source& other) {
  check_compatible(other);
  const auto& o = static_cast<const string_source&>(other);
  // Sizes first: `other` may be *this. Reserving is the only step that can
  // throw, and it changes no element (strong guarantee).
  const std::size_t m = o.size(), cps = o.codepoints_.size(), base = codepoints_.size();
  detail::reserve_geometric(codepoints_, base + cps);
  detail::reserve_geometric(offsets_, offsets_.size() + m);
  codepoints_.resize(base + cps);
  std::copy_n(o.codepoints_.data(), cps, codepoints_.data() + base);  // disjoint even when o is *this
  for (std::size_t k = 1; k <= m; ++k) offsets_.push_back(base + o.offsets_[k]);
}

void string_source::truncate(std::size_t n) noexcept {
  if (n >= size()) return;
  offsets_.resize(n + 1);  // shrinking: no allocation
  codepoints_.resize(offsets_[n]);
}

}  // namespace chutoro
