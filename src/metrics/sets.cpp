// chutoro — set_source (Jaccard over sorted id sets) and token sets of text lines.
#include <algorithm>
#include <chutoro/error.hpp>
#include <chutoro/metrics.hpp>
#include <string>
#include <unordered_map>

#include "metrics/growth.hpp"
#include "metrics/set_bit_kernels.hpp"

namespace chutoro {

float jaccard_distance(std::span<const std::uint32_t> a, std::span<const std::uint32_t> b) noexcept {
  return detail::jaccard_kernel(a, b);
}

set_source::set_source(std::span<const std::uint32_t> ids, std::span<const std::size_t> offsets)
    : data_source(source_kind::sets, builtin_key{}) {
  expects(
      offsets.size() >= 2, error_code::invalid_argument,
      "set_source: no items (offsets needs n + 1 >= 2 entries, got " + std::to_string(offsets.size()) + ")");
  expects(offsets.front() == 0 && offsets.back() == ids.size(), error_code::invalid_argument,
          "set_source: offsets must start at 0 and end at ids.size() (" + std::to_string(ids.size()) + ")");
  for (std::size_t i = 0; i + 1 < offsets.size(); ++i) {
    expects(offsets[i] <= offsets[i + 1], error_code::invalid_argument,
            "set_source: offsets decrease at item " + std::to_string(i) + " (0-based)");
    for (std::size_t k = offsets[i] + 1; k < offsets[i + 1]; ++k) {
      expects(ids[k - 1] < ids[k], error_code::invalid_argument,
              "set_source: item " + std::to_string(i) + " (0-based) is not sorted and duplicate-free (ids " +
                  std::to_string(ids[k - 1]) + " then " + std::to_string(ids[k]) + ")");
    }
  }
  ids_.assign(ids.begin(), ids.end());
  offsets_.assign(offsets.begin(), offsets.end());
}

namespace {

bool blank(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

}  // namespace

set_source::set_source(std::span<const std::uint32_t> ids, std::span<const std::size_t> offsets,
                       std::vector<std::string> vocabulary)
    : set_source(ids, offsets) {
  std::unordered_map<std::string_view, std::size_t> seen;
  seen.reserve(vocabulary.size());
  for (std::size_t t = 0; t < vocabulary.size(); ++t) {
    const std::string& token = vocabulary[t];
    expects(!token.empty() && std::none_of(token.begin(), token.end(), blank), error_code::invalid_argument,
            "set_source: vocabulary token " + std::to_string(t) + " (0-based) is " +
                (token.empty() ? std::string("empty") : std::string("not one token (it holds whitespace)")));
    const auto [it, fresh] = seen.try_emplace(token, t);
    expects(fresh, error_code::invalid_argument,
            "set_source: vocabulary tokens " + std::to_string(it->second) + " and " + std::to_string(t) +
                " (0-based) are the same");
  }
  if (!vocabulary.empty()) {
    for (std::size_t i = 0; i + 1 < offsets_.size(); ++i) {
      // Each item's ids are sorted: its last id is its largest.
      expects(offsets_[i] == offsets_[i + 1] || ids_[offsets_[i + 1] - 1] < vocabulary.size(),
              error_code::invalid_argument,
              "set_source: item " + std::to_string(i) + " (0-based) holds id " +
                  std::to_string(offsets_[i] == offsets_[i + 1] ? 0 : ids_[offsets_[i + 1] - 1]) +
                  ", beyond the vocabulary's " + std::to_string(vocabulary.size()) + " tokens");
    }
  }
  vocabulary_ = std::move(vocabulary);
}

set_source set_source::from_token_lines(std::span<const std::string> lines,
                                        std::span<const std::string> vocabulary) {
  expects(!lines.empty(), error_code::invalid_argument, "set_source: no lines");
  set_source s;
  std::unordered_map<std::string_view, std::uint32_t> id_of;
  id_of.reserve(vocabulary.size());
  for (const std::string& token : vocabulary) {
    const auto [it, fresh] = id_of.try_emplace(token, static_cast<std::uint32_t>(id_of.size()));
    expects(fresh, error_code::invalid_argument,
            "set_source: the vocabulary holds the token \"" + token + "\" twice");
  }
  s.vocabulary_.assign(vocabulary.begin(), vocabulary.end());
  s.offsets_.reserve(lines.size() + 1);
  s.offsets_.push_back(0);
  for (const std::string& line : lines) {
    const std::size_t begin = s.ids_.size();
    std::size_t t = 0;
    while (t < line.size()) {
      while (t < line.size() && blank(line[t])) ++t;
      const std::size_t start = t;
      while (t < line.size() && !blank(line[t])) ++t;
      if (t == start) break;
      const std::string_view token(line.data() + start, t - start);
      const auto [it, fresh] = id_of.try_emplace(token, static_cast<std::uint32_t>(id_of.size()));
      expects(id_of.size() < 0xFFFFFFFFu, error_code::invalid_argument,
              "set_source: more than 2^32 - 1 tokens");
      if (fresh) s.vocabulary_.emplace_back(token);
      s.ids_.push_back(it->second);
    }
    std::sort(s.ids_.begin() + static_cast<std::ptrdiff_t>(begin), s.ids_.end());
    s.ids_.erase(std::unique(s.ids_.begin() + static_cast<std::ptrdiff_t>(begin), s.ids_.end()),
                 s.ids_.end());
    s.offsets_.push_back(s.ids_.size());
  }
  return s;
}

float set_source::distance(std::size_t i, std::size_t j) const {
  return detail::jaccard_kernel(item(i), item(j));
}

void set_source::check_compatible(const data_source& other) const {
  const bool same = other.kind() == source_kind::sets;
  detail::expect_compatible(*this, other, same, same, same);
}

float set_source::cross_distance(const data_source& other, std::size_t i, std::size_t j) const {
  const auto& o = static_cast<const set_source&>(other);
  return detail::jaccard_kernel(o.item(i), item(j));
}

void set_source::append(const data_source& other) {
  check_compatible(other);
  const auto& o = static_cast<const set_source&>(other);
  // Sizes first: `other` may be *this. Reserving is the only step that can
  // throw, and it changes no element (strong guarantee).
  const std::size_t m = o.size(), count = o.ids_.size(), base = ids_.size();
  detail::reserve_geometric(ids_, base + count);
  detail::reserve_geometric(offsets_, offsets_.size() + m);
  // The vocabulary: kept when o's extends it (o numbered its tokens from this
  // one), else dropped. Decided and allocated before anything changes.
  const std::size_t known = vocabulary_.size();
  bool keep = known > 0 && o.vocabulary_.size() >= known;
  for (std::size_t t = 0; keep && t < known; ++t) keep = vocabulary_[t] == o.vocabulary_[t];
  std::vector<std::string> more;
  if (keep && &o != this)
    more.assign(o.vocabulary_.begin() + static_cast<std::ptrdiff_t>(known), o.vocabulary_.end());
  if (keep) detail::reserve_geometric(vocabulary_, known + more.size());
  ids_.resize(base + count);
  std::copy_n(o.ids_.data(), count, ids_.data() + base);  // disjoint even when o is *this
  for (std::size_t k = 1; k <= m; ++k) offsets_.push_back(base + o.offsets_[k]);
  if (!keep) {
    vocabulary_.clear();
  } else {
    for (auto& token : more) vocabulary_.push_back(std::move(token));
  }
}

void set_source::truncate(std::size_t n) noexcept {
  if (n >= size()) return;
  offsets_.resize(n + 1);  // shrinking: no allocation
  ids_.resize(offsets_[n]);
}

}  // namespace chutoro
