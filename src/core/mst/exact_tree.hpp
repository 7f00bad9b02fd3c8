// chutoro — exact HDBSCAN* over a kd-tree: the exact mode's fast path for
// dense data at low dimension (docs/algorithm.md, "Exact mode by kd-tree").
//
// Core distances: a k-nearest-neighbour query per item on a kd-tree (the item
// itself counts as the first neighbour, as in exact_core_distances). Minimum
// spanning tree: Borůvka rounds (Borůvka 1926), in which every component takes
// its lightest outgoing mutual-reachability edge, found by one pruned
// single-tree search per item with a bound shared by the item's component
// (March, Ram & Gray 2010, "Fast Euclidean minimum spanning tree"; McInnes &
// Healy 2017, "Accelerated hierarchical density based clustering", section 3;
// Wang, Yu, Gu & Shun 2021, "Fast parallel algorithms for Euclidean minimum
// spanning tree and hierarchical spatial clustering"). A subtree is skipped
// when (a) its bounding box is farther than the bound, (b) the smallest core
// distance in it already exceeds the bound (mrd >= max(core(q), min core,
// box distance)), or (c) all of its items lie in the searching item's
// component.
//
// Exactness: every weight is max(core(a), core(b), d(a, b)) with d from the
// pipeline's own kernel (dense_distance_fn), bit for bit; box and point
// bounds are computed in double and shrunk by the kernel's float32 rounding
// margin before they prune, so nothing that could be lighter is skipped.
// Edges are compared by the strict order (weight, min id, max id), so the
// tree is the unique minimum under that order: the same edges as exact_prim
// (all pairs), ties and duplicate items included.
//
// Valid for metrics whose distance to any point of an axis-aligned box is at
// least the distance to the box: euclidean and manhattan (any Minkowski
// norm). Not cosine: its kernel's 1 - <x, y> has an absolute, not relative,
// rounding error, which the relative margin does not cover.
#pragma once

#include <chutoro/data_source.hpp>
#include <chutoro/params.hpp>
#include <chutoro/result.hpp>
#include <cstddef>
#include <cstdint>

#include "core/mst/exact.hpp"

namespace chutoro::detail {

/// Whether exact_tree_spanning_tree can serve `data`: a dense_source under
/// euclidean or manhattan. Thread safe.
[[nodiscard]] bool exact_tree_supports(const data_source& data) noexcept;

/// Whether the exact mode builds its tree on the kd-tree (true) or by
/// all-pairs Prim for n items of dimension `dim`: the rule measured on the
/// project's machine (docs/algorithm.md, "Exact mode by kd-tree"): dim <=
/// exact_tree_max_dim and n >= exact_tree_min_items. (20k blobs, 1 thread:
/// the tree is 139x faster than all pairs at d = 2, 6.3x at d = 8, 0.82x at
/// d = 12; at d = 8 it breaks even near n = 1024.)
inline constexpr std::size_t exact_tree_max_dim = 8;
inline constexpr std::size_t exact_tree_min_items = 1024;
[[nodiscard]] bool exact_tree_preferred(std::size_t n, std::size_t dim) noexcept;

/// candidates = auto (build_params::candidates; docs/algorithm.md, "candidates =
/// auto"), resolved for `data` at its current size: exact when the kd-tree
/// serves it (exact_tree_supports) at dim <= auto_tree_max_dim, or when n <=
/// auto_all_pairs_max_items; hnsw otherwise. Any other request is returned as
/// it is. Thread safe. Measured (docs/algorithm.md): the tree beats hnsw up to
/// d = 8 (20k blobs: 31x at d = 2, 4.7x at d = 4, 0.6-2.1x at d = 8, 0.34x at
/// d = 12); all pairs beat hnsw up to n ~ 4-8k (d = 32: 1.3x at 4k, 0.65x at 8k).
inline constexpr std::size_t auto_tree_max_dim = 8;
inline constexpr std::size_t auto_all_pairs_max_items = 4096;
static_assert(auto_tree_max_dim <= exact_tree_max_dim, "auto must not choose all pairs at large n");
[[nodiscard]] candidate_mode resolve_candidates(candidate_mode requested, const data_source& data) noexcept;

/// Work done by exact_tree_spanning_tree.
struct exact_tree_counters {
  std::uint64_t core_pairs = 0;  ///< item pairs measured by the k-nearest-neighbour queries
  std::uint64_t mst_pairs = 0;   ///< item pairs measured by the Borůvka searches
  std::uint64_t rounds = 0;      ///< Borůvka rounds
  double seconds_core = 0;       ///< tree build + core distances
  double seconds_mst = 0;        ///< Borůvka rounds
};

/// The exact spanning tree of `data` (exact_tree_supports must hold) with
/// core-distance k = min_samples (1 <= min_samples <= data.size()): core
/// distances equal exact_core_distances' and edges equal exact_prim's (n - 1
/// edges sorted by (distance, a, b), a < b). O(n log n) expected distances at
/// fixed low dimension; O(n d) extra memory. OpenMP-parallel over items;
/// the result does not depend on the thread count. The tickers (may throw to
/// cancel) count items whose core distance is known, then items joined.
[[nodiscard]] spanning_tree exact_tree_spanning_tree(const data_source& data, std::size_t min_samples,
                                                     exact_tree_counters& counters,
                                                     progress_ticker* core_tick = nullptr,
                                                     progress_ticker* mst_tick = nullptr);

}  // namespace chutoro::detail
