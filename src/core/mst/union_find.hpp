// chutoro — disjoint-set forest with union by size and path halving.
// O(alpha(n)) amortised per operation. Not thread safe, except root() on an
// unchanging structure.
#pragma once

#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

namespace chutoro::detail {

class union_find {
 public:
  explicit union_find(std::size_t n) : parent_(n), size_(n, 1) {
    std::iota(parent_.begin(), parent_.end(), std::uint32_t{0});
  }

  /// Representative of x's set.
  std::uint32_t find(std::uint32_t x) noexcept {
    while (parent_[x] != x) {
      parent_[x] = parent_[parent_[x]];
      x = parent_[x];
    }
    return x;
  }

  /// Representative of x's set without path compression: safe to call from
  /// several threads while no thread modifies the structure.
  [[nodiscard]] std::uint32_t root(std::uint32_t x) const noexcept {
    while (parent_[x] != x) x = parent_[x];
    return x;
  }

  /// Merges the sets of a and b; returns false when they were already one set.
  bool unite(std::uint32_t a, std::uint32_t b) noexcept {
    a = find(a);
    b = find(b);
    if (a == b) return false;
    if (size_[a] < size_[b]) std::swap(a, b);
    parent_[b] = a;
    size_[a] += size_[b];
    return true;
  }

  /// Size of the set containing x.
  std::uint32_t set_size(std::uint32_t x) noexcept { return size_[find(x)]; }
  [[nodiscard]] std::size_t size() const noexcept { return parent_.size(); }

 private:
  std::vector<std::uint32_t> parent_;
  std::vector<std::uint32_t> size_;
};

}  // namespace chutoro::detail
