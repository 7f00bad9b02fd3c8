// chutoro — exact HDBSCAN* spanning tree over all pairs (the oracle mode).
//
// Core distances: for every item, the (min_samples - 1) smallest distances to
// other items (the item itself is the first neighbour), by a full scan.
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
/// thread 0) ticks `ticker` with the number of iterations done. The first
/// exception thrown by an iteration or by the ticker stops the remaining
/// iterations and is rethrown on the calling thread after the loop.
template <class Body>
void parallel_for(std::size_t n, Body&& body, progress_ticker* ticker = nullptr) {
  std::exception_ptr failure;
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> done{0};
#pragma omp parallel for schedule(dynamic, 16)
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(n); ++i) {
    if (stop.load(std::memory_order_relaxed)) continue;
    try {
      body(static_cast<std::size_t>(i));
      const std::size_t d = done.fetch_add(1, std::memory_order_relaxed) + 1;
      if (ticker && omp_get_thread_num() == 0) (*ticker)(d);
    } catch (...) {
      stop.store(true, std::memory_order_relaxed);
#pragma omp critical(chutoro_parallel_for)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

/// Exact core distances: out[i] = distance to the min_samples-th nearest item,
/// the item itself counting as the first. Requires min_samples <= n.
template <class Distance>
std::vector<float> exact_core_distances(std::size_t n, std::size_t min_samples, const Distance& dist,
                                        progress_ticker* ticker = nullptr) {
  std::vector<float> core(n, 0.0f);
  const std::size_t k = min_samples - 1;
  if (k == 0) return core;
  parallel_for(
      n,
      [&](std::size_t i) {
        std::vector<float> heap;  // max-heap of the k smallest
        heap.reserve(k + 1);
        for (std::size_t j = 0; j < n; ++j) {
          if (j == i) continue;
          const float d = dist(static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(j));
          if (heap.size() < k) {
            heap.push_back(d);
            std::push_heap(heap.begin(), heap.end());
          } else if (d < heap.front()) {
            std::pop_heap(heap.begin(), heap.end());
            heap.back() = d;
            std::push_heap(heap.begin(), heap.end());
          }
        }
        core[i] = heap.front();
      },
      ticker);
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
  // One parallel region per step only pays off when a step is long.
  const bool parallel = n >= 16384;
  for (std::size_t step = 1; step < n; ++step) {
    if (ticker) (*ticker)(step);
    key best_k{kInf, kNone, kNone};
    std::uint32_t best_v = kNone;
    const float core_cur = core[cur];
    std::exception_ptr failure;
#pragma omp parallel if (parallel)
    {
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
