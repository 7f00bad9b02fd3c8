// chutoro — exact HDBSCAN* spanning tree over all pairs (the oracle mode).
//
// Core distances: for every item, the (min_samples - 1) smallest distances to
// other items (the item itself is the first neighbour), by a full scan in
// distance tiles (blocks of rows x columns from the backend, src/core/backend).
// Minimum spanning tree: Prim's algorithm on the implicit complete graph under
// mutual reachability (Campello et al. 2013, section 2.2; the "generic" HDBSCAN*
// algorithm). O(n^2) distance evaluations, O(n) memory, OpenMP-parallel over items.
#pragma once

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <chutoro/result.hpp>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <span>
#include <vector>

namespace chutoro::detail {

/// Reports progress from the calling thread at most every 50 ms; the callback
/// may throw to cancel (Python's KeyboardInterrupt does).
class progress_ticker {
 public:
  using callback = std::function<void(std::size_t done)>;
  explicit progress_ticker(callback fn) : fn_(std::move(fn)), last_(std::chrono::steady_clock::now()) {}
  /// Calls the callback if 50 ms passed since the last call (or `force`).
  void operator()(std::size_t done, bool force = false) {
    if (!fn_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(50)) return;
    last_ = now;
    fn_(done);
  }

 private:
  callback fn_;
  std::chrono::steady_clock::time_point last_;
};

/// Runs `body(i)` for i in [0, n) on OpenMP threads. The calling thread (team
/// thread 0) ticks `ticker` with the number of iterations done, times
/// `items_per_iteration` (capped at `items`, when the iterations are blocks of
/// items). The first exception thrown by an iteration or by the ticker stops
/// the remaining iterations and is rethrown on the calling thread after the loop.
template <class Body>
void parallel_for(std::size_t n, Body&& body, progress_ticker* ticker = nullptr,
                  std::size_t items_per_iteration = 1, std::size_t items = 0) {
  std::exception_ptr failure;
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> done{0};
#pragma omp parallel for schedule(dynamic, 16)
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(n); ++i) {
    if (stop.load(std::memory_order_relaxed)) continue;
    try {
      body(static_cast<std::size_t>(i));
      const std::size_t d = done.fetch_add(1, std::memory_order_relaxed) + 1;
      if (ticker && omp_get_thread_num() == 0)
        (*ticker)(items_per_iteration == 1 ? d : std::min(d * items_per_iteration, items));
    } catch (...) {
      stop.store(true, std::memory_order_relaxed);
#pragma omp critical(chutoro_parallel_for)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

/// Rows and columns of the tiles exact_core_distances asks for: 16 x 2048
/// floats (128 KiB per thread); the columns of a tile are reused by its 16
/// rows while they are in cache.
inline constexpr std::size_t kTileRows = 16, kTileCols = 2048;

/// Exact core distances: out[i] = distance to the min_samples-th nearest item,
/// the item itself counting as the first. Requires min_samples <= n.
/// `tile(rows, cols, out)` fills out[r * cols.size() + c] with d(rows[r],
/// cols[c]) (0 where the ids are equal, never measured): the backend's
/// distance_tile. Every row's distances to the other n - 1 items are seen in
/// ascending id order, as a plain scan would see them. O(n^2) distances,
/// OpenMP-parallel over blocks of kTileRows rows.
template <class Tile>
std::vector<float> exact_core_distances(std::size_t n, std::size_t min_samples, const Tile& tile,
                                        progress_ticker* ticker = nullptr) {
  std::vector<float> core(n, 0.0f);
  const std::size_t k = min_samples - 1;
  if (k == 0) return core;
  const std::size_t blocks = (n + kTileRows - 1) / kTileRows;
  parallel_for(
      blocks,
      [&](std::size_t block) {
        const std::size_t r0 = block * kTileRows, r1 = std::min(n, r0 + kTileRows);
        std::vector<std::uint32_t> rows(r1 - r0), cols;
        for (std::size_t r = r0; r < r1; ++r) rows[r - r0] = static_cast<std::uint32_t>(r);
        std::vector<std::vector<float>> heaps(rows.size());  // max-heaps of the k smallest
        for (auto& h : heaps) h.reserve(k + 1);
        std::vector<float> out;
        for (std::size_t c0 = 0; c0 < n; c0 += kTileCols) {
          const std::size_t c1 = std::min(n, c0 + kTileCols);
          cols.resize(c1 - c0);
          for (std::size_t c = c0; c < c1; ++c) cols[c - c0] = static_cast<std::uint32_t>(c);
          out.resize(rows.size() * cols.size());
          tile(std::span<const std::uint32_t>(rows), std::span<const std::uint32_t>(cols),
               std::span<float>(out));
          for (std::size_t r = 0; r < rows.size(); ++r) {
            std::vector<float>& heap = heaps[r];
            const float* d_row = out.data() + r * cols.size();
            for (std::size_t c = 0; c < cols.size(); ++c) {
              if (cols[c] == rows[r]) continue;
              const float d = d_row[c];
              if (heap.size() < k) {
                heap.push_back(d);
                std::push_heap(heap.begin(), heap.end());
              } else if (d < heap.front()) {
                std::pop_heap(heap.begin(), heap.end());
                heap.back() = d;
                std::push_heap(heap.begin(), heap.end());
              }
            }
          }
        }
        for (std::size_t r = 0; r < rows.size(); ++r) core[r0 + r] = heaps[r].front();
      },
      ticker, kTileRows, n);
  return core;
}

/// Prim's algorithm under mutual reachability; returns n - 1 edges sorted by
/// (distance, a, b) with a < b. Edges are compared by the strict order
/// (weight, min id, max id), so the tree is the unique minimum under that
/// order, the same one minimum_spanning_forest (Kruskal) picks: mutual
/// reachability makes equal weights common even without tied distances.
template <class Distance>
std::vector<mst_edge> exact_prim(std::size_t n, const std::vector<float>& core, const Distance& dist,
                                 progress_ticker* ticker = nullptr) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
  struct key {
    float w;
    std::uint32_t lo, hi;
    bool operator<(const key& o) const noexcept {
      if (w != o.w) return w < o.w;
      if (lo != o.lo) return lo < o.lo;
      return hi < o.hi;
    }
  };
  std::vector<key> best(n, key{kInf, kNone, kNone});
  std::vector<char> in_tree(n, 0);
  std::vector<mst_edge> edges;
  edges.reserve(n - 1);
  std::uint32_t cur = 0;
  in_tree[0] = 1;
  std::vector<std::uint32_t> outside;  // the batched step's vertices outside the tree, and their distances
  std::vector<float> outside_d;
  // One parallel region per step only pays off when a step is long.
  const bool parallel = n >= 16384;
  for (std::size_t step = 1; step < n; ++step) {
    if (ticker) (*ticker)(step);
    key best_k{kInf, kNone, kNone};
    std::uint32_t best_v = kNone;
    const float core_cur = core[cur];
    std::exception_ptr failure;
    bool batched = false;
    if constexpr (requires(std::span<const std::uint32_t> xs, float* out) { dist.batch(cur, xs, out); }) {
      if (!parallel) {
        // One batch per step: cur against every vertex outside the tree (a
        // plugin's or vectorised Python metric's distance_batch, or the blocked
        // dense kernels), the same keys and order as the loop below.
        outside.clear();
        for (std::uint32_t v = 0; v < n; ++v)
          if (!in_tree[v]) outside.push_back(v);
        outside_d.resize(outside.size());
        if (!outside.empty()) dist.batch(cur, std::span<const std::uint32_t>(outside), outside_d.data());
        for (std::size_t k = 0; k < outside.size(); ++k) {
          const std::uint32_t v = outside[k];
          const key kv{std::max({outside_d[k], core_cur, core[v]}), std::min(cur, v), std::max(cur, v)};
          if (kv < best[v]) best[v] = kv;
          if (best_v == kNone || best[v] < best_k || (!(best_k < best[v]) && v < best_v))
            best_k = best[v], best_v = v;
        }
        batched = true;
      }
    }
#pragma omp parallel if (parallel && !batched)
    if (!batched) {
      key lk{kInf, kNone, kNone};
      std::uint32_t lv = kNone;
      try {
#pragma omp for schedule(static) nowait
        for (std::int64_t iv = 0; iv < static_cast<std::int64_t>(n); ++iv) {
          const auto v = static_cast<std::uint32_t>(iv);
          if (in_tree[v]) continue;
          const key k{std::max({dist(cur, v), core_cur, core[v]}), std::min(cur, v), std::max(cur, v)};
          if (k < best[v]) best[v] = k;
          if (best[v] < lk || (!(lk < best[v]) && v < lv)) lk = best[v], lv = v;
        }
      } catch (...) {
#pragma omp critical(chutoro_prim_failure)
        if (!failure) failure = std::current_exception();
      }
#pragma omp critical(chutoro_prim)
      if (lv != kNone && (best_v == kNone || lk < best_k || (!(best_k < lk) && lv < best_v)))
        best_k = lk, best_v = lv;
    }
    if (failure) std::rethrow_exception(failure);
    if (best_v == kNone) break;  // unreachable: every vertex outside the tree has a key
    in_tree[best_v] = 1;
    const key& k = best[best_v];
    if (k.lo == kNone) {
      // Only infinite distances remain: join at infinity.
      edges.push_back({0, best_v, std::numeric_limits<double>::infinity()});
    } else {
      edges.push_back({k.lo, k.hi, static_cast<double>(k.w)});
    }
    cur = best_v;
  }
  std::sort(edges.begin(), edges.end(), [](const mst_edge& x, const mst_edge& y) {
    if (x.distance != y.distance) return x.distance < y.distance;
    if (x.a != y.a) return x.a < y.a;
    return x.b < y.b;
  });
  return edges;
}

}  // namespace chutoro::detail
