// Levenshtein distance over Unicode code points (Wagner-Fischer, one row).
#include <algorithm>
#include <chutoro/data_source.hpp>
#include <chutoro/error.hpp>
#include <string>

namespace chutoro {

std::uint32_t levenshtein(std::span<const char32_t> a, std::span<const char32_t> b) {
  // Strip the common prefix and suffix: they never change the distance.
  while (!a.empty() && !b.empty() && a.front() == b.front()) a = a.subspan(1), b = b.subspan(1);
  while (!a.empty() && !b.empty() && a.back() == b.back())
    a = a.first(a.size() - 1), b = b.first(b.size() - 1);
  if (a.size() < b.size()) std::swap(a, b);  // b is the shorter: one row of |b| + 1
  if (b.empty()) return static_cast<std::uint32_t>(a.size());
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

string_source::string_source(std::span<const std::string> items) {
  expects(!items.empty(), error_code::invalid_argument, "string_source: no items (empty input)");
  offsets_.reserve(items.size() + 1);
  offsets_.push_back(0);
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto cps = decode_utf8(items[i], "item " + std::to_string(i));
    codepoints_.insert(codepoints_.end(), cps.begin(), cps.end());
    offsets_.push_back(codepoints_.size());
  }
}

float string_source::distance(std::size_t i, std::size_t j) const {
  return static_cast<float>(levenshtein(item(i), item(j)));
}

}  // namespace chutoro
