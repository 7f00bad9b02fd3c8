// chutoro — exact HDBSCAN* on a Thrust device system: exact core distances
// and the exact minimum spanning tree of the complete mutual-reachability
// graph of dense float32 rows, the GPU exact mode of the CUDA backend (issue
// 12, deliverable 1). The hierarchy and everything after it stay on the host.
//
// Entry point (host in, host out):
//
//   exact_tree chutoro::cuda_detail::exact_hdbscan(const exact_input& in,
//                                                  const exact_options& opt = {});
//
// Result: what cpu_backend::build_exact (src/core/backend/cpu_backend.cpp,
// src/core/mst/exact.hpp) computes for the same rows:
//  - core[i] = the distance from item i to its (min_samples - 1)-th nearest
//    other item (the item itself counts as the first neighbour, DESIGN.md
//    section 2; min_samples = 1 gives 0), selected by id, not by distance
//    (inner_product's d(x, x) = 1 - |x|^2 is never looked at);
//  - the minimum spanning tree of the complete graph under mutual
//    reachability w(a, b) = max(core[a], core[b], d(a, b)), unique under the
//    strict order (w, min id, max id), as n - 1 edges (a < b, their weight w)
//    sorted by (w, a, b): exact_prim's tree.
// Distances follow the CPU kernels' definitions on the rows the sources store
// (cosine and angular rows are already unit length there):
//   euclidean      sqrt(sum (x_k - y_k)^2); a float32 sum outside [2^-100,
//                  FLT_MAX] is summed again in double (dense_kernels.hpp)
//   manhattan      sum |x_k - y_k|
//   cosine         max(0, 1 - <x, y>)        (dense_source: unit rows)
//   inner_product  max(0, 1 - <x, y>)        (product_source)
//   angular        2 asin(min(1, |x - y| / 2)) / pi (product_source: unit
//                  rows); a squared chord below 2^-100 in double
// Every sum runs over 16 lanes (lane k takes the columns = k mod 16) added up
// in lane order at the end, with no fused multiply-add: the order of the CPU's
// scalar kernels (set_bit_kernels.hpp's product kernels; dense_kernels.hpp's
// reference kernels). So inner_product and angular distances equal the CPU's
// bit for bit on the host systems (angular on a GPU up to asinf's last bit);
// the dense metrics' CPU kernels (Highway, with FMA where the target has it)
// add in another order, so there the distances differ in the last bits and
// only near-ties of the tree can flip (tie-free data: the same tree).
//
// Algorithm (every step a Thrust algorithm or a for_each functor, so the same
// source runs on the CUDA system (nvcc) and on the OpenMP / C++ systems):
//  1. Upload the rows once and transpose them to column-major (x_k of item i
//     at k * n + i): a thread per row reads its own values coalesced and
//     every thread of a warp reads the same column item (a broadcast). A row
//     measures distance::kGroup (4) columns at a time, loading each of its
//     own values once for the four.
//  2. Core distances in tiles of rows x columns: per row a max-heap of the
//     min_samples - 1 smallest distances seen (device memory, slot-major so
//     the threads' heap accesses are coalesced), filled with +inf at first
//     and updated only by a distance below its top: per-row top-k selection
//     fused into the tile pass. Rows are taken in blocks whose heaps fit
//     opt.heap_bytes. Never an n x n matrix.
//  3. Borůvka rounds (Borůvka 1926) on the implicit complete graph: each
//     round every row scans the columns tile by tile for its lightest edge to
//     another component under (w, min id, max id), skipping
//      - the whole row while core[i] > the best weight found so far for its
//        component or for the row (every edge of i weighs >= core[i]), and
//      - a column j while max(core[i], core[j]) exceeds that bound
//     before measuring (the bound of Wang, Yu, Gu & Shun, "Fast parallel
//     algorithms for Euclidean minimum spanning tree and hierarchical spatial
//     clustering", SIGMOD 2021, applied to the tiled scan; strictly greater,
//     so a tie that the ids would decide is never skipped). A row's best is
//     offered to its component by an atomic minimum of the weight key after
//     each tile, tightening the bound for the next tiles; each root starts
//     from a real candidate, its edge to the next root, so the bound prunes
//     from the first tile on. These rounds (join_components) start from any
//     partition into components: knn.cuh starts them from its kNN forest,
//     with a per-item floor above core[i] as the row and column bound. Then per component
//     the lightest (w, pair) by two scatter-min passes over the rows, hooking
//     (a component hooks onto the one its edge leads to; of a mutual pair the
//     smaller root stays), pointer jumping, relabelling. The number of
//     components at least halves per round: at most ceil(log2 n) rounds.
//  4. The n - 1 chosen edges sorted by (w, a, b) go to the host.
//
// Complexity: O(n^2 dim) for the core distances plus at most ceil(log2 n)
// pruned scans of O(n^2 dim) each; O(n log n) for the rest. Device memory
// (exact_device_bytes): the rows twice during the transpose (8 B x n x
// stride), then once; the heaps of one row block (<= heap_bytes, 4 B x rows x
// (min_samples - 1)); 80 B per item of per-item state; no tile matrix.
//
// Determinism: the atomic minima are order-independent and every other step
// deterministic, so results are bit-identical whatever the thread count,
// tile shape or schedule.
//
// Errors: error(invalid_argument) for a bad shape (rows.size() != n * stride,
// stride < dim or not a multiple of 16, min_samples outside [1, n]),
// error(unsupported) for n >= 2^32; std::bad_alloc or thrust::system_error
// (CUDA system) when device memory runs out or the device fails; whatever
// opt.progress throws (cancellation), between tiles.
//
// Thread safety: reentrant (no shared state). On the CUDA system it runs on
// the calling thread's current device, default stream.
#pragma once

#if !defined(__CUDACC__) && !defined(THRUST_DEVICE_SYSTEM)
#error \
    "exact.cuh: compile with nvcc, or with a host compiler and -DTHRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP (or _CPP) and CCCL's include directory"
#endif

#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/fill.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>
#include <thrust/logical.h>
#include <thrust/scatter.h>
#include <thrust/sequence.h>
#include <thrust/sort.h>
#include <thrust/transform.h>

#include <algorithm>
#include <chutoro/error.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "cuda/boruvka.cuh"     // forest_edge, order_key, offer, raw, CHUTORO_HD
#include "cuda/components.cuh"  // hooking, pointer jumping

namespace chutoro::cuda_detail {

/// The metrics of the exact stage (stable values: the module ABI's
/// CHUTORO_CUDA_METRIC_*).
enum class exact_metric : int { euclidean = 0, cosine = 1, manhattan = 2, inner_product = 3, angular = 4 };

/// Dense rows as a data source stores them: n rows of `stride` floats (stride
/// a multiple of 16 and >= dim; the tail beyond dim is zero), row-major;
/// cosine and angular rows unit length.
struct exact_input {
  std::span<const float> rows;  ///< n * stride values
  std::size_t n = 0, dim = 0, stride = 0;
  exact_metric metric = exact_metric::euclidean;
  std::size_t min_samples = 1;  ///< 1 <= min_samples <= n
};

/// Tuning and reporting (defaults suit a GPU; tests shrink the tiles).
struct exact_options {
  /// Columns per tile: every launch measures (rows of the block) x tile_cols
  /// pairs; 0 picks about 2^34 / (n * stride) (tens of ms on a GPU), at least 256.
  std::size_t tile_cols = 0;
  /// Device bytes for the core-distance heaps of one row block.
  std::size_t heap_bytes = std::size_t{1} << 30;
  /// Called between tiles with ("core distances", rows done, n) and ("mst",
  /// n - components, n - 1); may throw to cancel (the exception propagates).
  std::function<void(const char* stage, std::size_t done, std::size_t total)> progress;
};

/// The result: core distances and the tree (edges a < b, d = the mutual
/// reachability weight, sorted by (d, a, b)).
struct exact_tree {
  std::vector<float> core;
  std::vector<forest_edge> edges;
};

namespace exact_impl {

using boruvka_impl::kNone;
using boruvka_impl::kNone32;
using boruvka_impl::offer;
using boruvka_impl::order_key;
using boruvka_impl::raw;
using boruvka_impl::u64;
using boruvka_impl::weight_key;

/// float operations that a compiler may not fuse (the CPU kernels do not).
CHUTORO_HD inline float mul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
CHUTORO_HD inline float add(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

/// The weight a key stands for (inverse of weight_key for weights >= 0).
CHUTORO_HD inline float key_weight(std::uint32_t k) {
  const std::uint32_t u = (k & 0x80000000u) ? (k & 0x7FFFFFFFu) : ~k;
  return cuda::std::bit_cast<float>(u);
}

/// d(i, j) over column-major rows xt (x_k of item i at k * n + i).
struct distance {
  const float* xt;
  std::size_t n, stride;
  exact_metric metric;

  CHUTORO_HD double wide_squares(std::size_t i, std::size_t j) const {
    double acc[4] = {0, 0, 0, 0};
    for (std::size_t k = 0; k < stride; k += 4)
      for (std::size_t l = 0; l < 4; ++l) {
        const double d = static_cast<double>(xt[(k + l) * n + i]) - static_cast<double>(xt[(k + l) * n + j]);
        acc[l] += d * d;
      }
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
  }

  /// The raw 16-lane sums of rows i and j[0..Q) (the kernel before its
  /// finishing formula): row i's values are loaded once for the Q columns.
  template <int Q>
  CHUTORO_HD void sums(std::size_t i, const std::size_t* j, float* s) const {
    float acc[Q][16];
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
    for (int q = 0; q < Q; ++q)
      for (int l = 0; l < 16; ++l) acc[q][l] = 0.0f;
    const bool product = metric == exact_metric::cosine || metric == exact_metric::inner_product;
    const bool absolute = metric == exact_metric::manhattan;
    for (std::size_t k = 0; k < stride; k += 16) {
      const float* a = xt + k * n + i;
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
      for (int l = 0; l < 16; ++l) {
        const float x = a[static_cast<std::size_t>(l) * n];
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
        for (int q = 0; q < Q; ++q) {
          const float y = xt[(k + static_cast<std::size_t>(l)) * n + j[q]];
          float t;
          if (product) {
            t = mul(x, y);
          } else {
            const float d = x - y;
            t = absolute ? (d < 0 ? -d : d) : mul(d, d);
          }
          acc[q][l] = add(acc[q][l], t);
        }
      }
    }
    for (int q = 0; q < Q; ++q) {
      float v = 0.0f;
      for (int l = 0; l < 16; ++l) v = add(v, acc[q][l]);
      s[q] = v;
    }
  }

  /// The metric's distance of rows i and j from their raw sum s.
  CHUTORO_HD float finish(std::size_t i, std::size_t j, float s) const {
    switch (metric) {
      case exact_metric::euclidean: {
        // squares_in_range: [2^-100, FLT_MAX], else in double.
        constexpr std::uint32_t lo = 0x0D800000u;  // bits of 2^-100
        constexpr std::uint32_t hi = 0x7F7FFFFFu;  // bits of FLT_MAX
        if (cuda::std::bit_cast<std::uint32_t>(s) - lo <= hi - lo) return sqrtf(s);
        return static_cast<float>(sqrt(wide_squares(i, j)));
      }
      case exact_metric::manhattan:
        return s;
      case exact_metric::cosine:
      case exact_metric::inner_product: {
        const float v = 1.0f - s;
        return v < 0.0f ? 0.0f : v;
      }
      case exact_metric::angular:
      default: {
        constexpr double inv_pi = 0.318309886183790671537767526745028724;
        if (!(s >= 0x1p-100f)) {
          const double chord = sqrt(wide_squares(i, j));
          const double h = chord * 0.5 < 1.0 ? chord * 0.5 : 1.0;
          return static_cast<float>(2.0 * asin(h) * inv_pi);
        }
        float half = sqrtf(s) * 0.5f;
        half = half < 1.0f ? half : 1.0f;
        return mul(mul(2.0f, asinf(half)), static_cast<float>(inv_pi));
      }
    }
  }

  CHUTORO_HD float operator()(std::size_t i, std::size_t j) const {
    float s;
    sums<1>(i, &j, &s);
    return finish(i, j, s);
  }

  /// Distances of row i to the kGroup columns j[] at once (each the same
  /// value operator() gives).
  CHUTORO_HD void group(std::size_t i, const std::size_t* j, float* out) const {
    float s[kGroup];
    sums<kGroup>(i, j, s);
    for (int q = 0; q < kGroup; ++q) out[q] = finish(i, j[q], s[q]);
  }
  static constexpr int kGroup = 4;
};

/// Step 1: column-major copy of row-major rows.
struct transpose {
  const float* rows;
  std::size_t n, stride;
  CHUTORO_HD float operator()(std::size_t p) const { return rows[(p % n) * stride + p / n]; }
};

/// Step 2: rows r0 + t (t < count) fold columns [c0, c1) into their heaps
/// (max-heaps of k values at heap[s * count + t], s < k). Columns are
/// measured distance::kGroup at a time (the row's values loaded once).
/// With `ids` (knn.cuh: the k nearest neighbours, not only their distances)
/// each slot also holds the column's id at ids[s * count + t] and the heap
/// orders (distance, id), so the kept neighbours do not depend on the tile
/// order; the distances kept are the same either way.
struct core_tile {
  distance dist;
  float* heap;
  std::size_t r0, count, k, c0, c1;
  std::uint32_t* ids = nullptr;

  /// (d1, j1) after (d2, j2) in the heap's order (ids only break ties when kept).
  CHUTORO_HD bool after(float d1, std::uint32_t j1, float d2, std::uint32_t j2) const {
    return d1 > d2 || (ids != nullptr && d1 == d2 && j1 > j2);
  }
  CHUTORO_HD std::uint32_t id_at(std::size_t s, std::size_t t) const {
    return ids == nullptr ? 0 : ids[s * count + t];
  }

  CHUTORO_HD void push(std::size_t t, float d, std::size_t col) const {
    const auto j = static_cast<std::uint32_t>(col);
    if (!after(heap[t], id_at(0, t), d, j)) return;
    // Replace the top and sift down.
    std::size_t s = 0;
    for (;;) {
      const std::size_t l = 2 * s + 1;
      if (l >= k) break;
      std::size_t c = l;
      if (l + 1 < k && after(heap[(l + 1) * count + t], id_at(l + 1, t), heap[l * count + t], id_at(l, t)))
        c = l + 1;
      const float hc = heap[c * count + t];
      const std::uint32_t ic = id_at(c, t);
      if (!after(hc, ic, d, j)) break;
      heap[s * count + t] = hc;
      if (ids != nullptr) ids[s * count + t] = ic;
      s = c;
    }
    heap[s * count + t] = d;
    if (ids != nullptr) ids[s * count + t] = j;
  }

  CHUTORO_HD void operator()(std::size_t t) const {
    constexpr int G = distance::kGroup;
    const std::size_t i = r0 + t;
    std::size_t js[G];
    float ds[G];
    int m = 0;
    // The groups are the same for every row (i itself is measured and
    // dropped), so a warp's threads read the same column items together.
    for (std::size_t j = c0; j < c1; ++j) {
      js[m++] = j;
      if (m == G) {
        dist.group(i, js, ds);
        for (int q = 0; q < G; ++q)
          if (js[q] != i) push(t, ds[q], js[q]);
        m = 0;
      }
    }
    for (int q = 0; q < m; ++q)
      if (js[q] != i) push(t, dist(i, js[q]), js[q]);
  }
};

struct core_of_block {
  const float* heap;
  float* core;
  std::size_t r0;
  CHUTORO_HD void operator()(std::size_t t) const { core[r0 + t] = heap[t]; }
};

CHUTORO_HD inline std::uint32_t load(std::uint32_t& slot) {
  return cuda::atomic_ref<std::uint32_t, cuda::thread_scope_device>(slot).load(
      cuda::std::memory_order_relaxed);
}

/// Step 3, the tiled scan: row i's lightest edge to another component over
/// columns [c0, c1), kept in (row_w, row_p) across tiles, offered to its
/// component's best_w. floor[i] <= the weight of every edge from i to another
/// component (exact: core[i]; knn.cuh: also i's k-th neighbour distance, all
/// k neighbours being inside i's component), so a row or a column whose
/// floor exceeds the bound is skipped before measuring.
struct scan_tile {
  distance dist;
  const float* core;
  const float* floor;
  const std::uint32_t* comp;
  std::uint32_t* best_w;  // per root: weight key (atomic minimum)
  std::uint32_t* row_w;
  u64* row_p;
  std::size_t c0, c1;
  CHUTORO_HD void operator()(std::size_t i) const {
    const std::uint32_t ci = comp[i];
    std::uint32_t mw = row_w[i];
    u64 mp = row_p[i];
    const float core_i = core[i], floor_i = floor[i];
    const std::uint32_t own = weight_key(floor_i);
    std::uint32_t bound = load(best_w[ci]);
    bound = mw < bound ? mw : bound;
    if (own > bound) return;  // every edge of i weighs >= core[i]
    constexpr int G = distance::kGroup;
    std::size_t js[G];
    float lbs[G], ds[G];
    int m = 0;
    auto consider = [&](std::size_t j, float lb, float d) {
      const std::uint32_t wk = weight_key(lb < d ? d : lb);
      const u64 p = i < j ? (u64{i} << 32) | j : (u64{j} << 32) | i;
      if (wk < mw || (wk == mw && p < mp)) {
        mw = wk, mp = p;
        bound = mw < bound ? mw : bound;
      }
    };
    for (std::size_t j = c0; j < c1; ++j) {
      const std::uint32_t cj = comp[j];
      if (cj == ci) continue;
      const float floor_j = floor[j];
      if (weight_key(floor_i < floor_j ? floor_j : floor_i) > bound)
        continue;  // no edge of (i, j) can be lighter
      const float core_j = core[j];
      const float lb = core_i < core_j ? core_j : core_i;
      js[m] = j, lbs[m] = lb, ++m;
      if (m == G) {
        dist.group(i, js, ds);
        for (int q = 0; q < G; ++q) consider(js[q], lbs[q], ds[q]);
        m = 0;
      }
    }
    for (int q = 0; q < m; ++q) consider(js[q], lbs[q], dist(i, js[q]));
    if (mw != row_w[i] || mp != row_p[i]) {  // a seed may be beaten by a smaller pair of its weight
      row_w[i] = mw, row_p[i] = mp;
      offer(best_w[ci], mw);
    }
  }
};

/// Among the rows at their component's best weight, the smallest pair.
struct best_pair_of {
  const std::uint32_t* comp;
  const std::uint32_t* best_w;
  const std::uint32_t* row_w;
  const u64* row_p;
  u64* best_p;
  CHUTORO_HD void operator()(std::size_t i) const {
    const std::uint32_t c = comp[i];
    if (row_w[i] != kNone32 && row_w[i] == best_w[c]) offer(best_p[c], row_p[i]);
  }
};

/// Hooking root roots[k] onto the component its lightest edge leads to; the
/// edge goes to edge_of[k] with hooked[k] = 1.
struct hook {
  const std::uint32_t* roots;
  const std::uint32_t* comp;
  const std::uint32_t* best_w;
  const u64* best_p;
  std::uint32_t* parent;
  std::uint8_t* hooked;
  std::uint8_t* stays;
  forest_edge* edge_of;
  CHUTORO_HD void operator()(std::size_t k) const {
    const std::uint32_t r = roots[k];
    const u64 p = best_p[r];
    hooked[k] = 0;
    stays[k] = 0;
    if (p == kNone) return;  // no other component: done
    const auto lo = static_cast<std::uint32_t>(p >> 32), hi = static_cast<std::uint32_t>(p & 0xFFFFFFFFull);
    const std::uint32_t s = comp[lo] == r ? comp[hi] : comp[lo];
    if (!components::hooks(r, s, best_p[s] == p)) {  // mutual choice: the smaller root stays
      stays[k] = 1;
      return;
    }
    parent[r] = s;
    hooked[k] = 1;
    edge_of[k] = forest_edge{lo, hi, key_weight(best_w[r])};
  }
};

struct reset_root {
  std::uint32_t* best_w;
  u64* best_p;
  CHUTORO_HD void operator()(std::uint32_t r) const {
    best_w[r] = kNone32;
    best_p[r] = kNone;
  }
};

/// A seed for root roots[k]'s search: its edge to the next root (a real
/// candidate, so the bound prunes from the first tile on).
struct seed_root {
  distance dist;
  const float* core;
  const std::uint32_t* roots;
  std::size_t active;
  std::uint32_t* best_w;
  std::uint32_t* row_w;
  u64* row_p;
  CHUTORO_HD void operator()(std::size_t k) const {
    const std::uint32_t i = roots[k], j = roots[k + 1 == active ? 0 : k + 1];
    const float d = dist(i, j), lb = core[i] < core[j] ? core[j] : core[i];
    const std::uint32_t wk = weight_key(lb < d ? d : lb);
    row_w[i] = wk;
    row_p[i] = i < j ? (u64{i} << 32) | j : (u64{j} << 32) | i;
    offer(best_w[i], wk);  // i is its component's root
  }
};
struct is_root {
  const std::uint32_t* comp;
  CHUTORO_HD bool operator()(std::uint32_t i) const { return comp[i] == i; }
};
struct relabel {
  const std::uint32_t* parent;
  CHUTORO_HD std::uint32_t operator()(std::uint32_t c) const { return parent[c]; }
};
using components::is_set;

/// (w, a, b) order of tree edges.
struct tree_order {
  CHUTORO_HD bool operator()(const forest_edge& x, const forest_edge& y) const {
    if (x.d != y.d) return x.d < y.d;
    if (x.a != y.a) return x.a < y.a;
    return x.b < y.b;
  }
};

}  // namespace exact_impl

/// Columns per tile for n items of `stride` floats (exact_options::tile_cols == 0).
constexpr std::size_t exact_tile_cols(std::size_t n, std::size_t stride) noexcept {
  const std::size_t work = std::max<std::size_t>(1, n * stride);
  return std::max<std::size_t>(256, (std::size_t{1} << 34) / work);
}

/// Rows per core-distance block: as many as heap_bytes holds (at least 1, at most n).
constexpr std::size_t exact_heap_rows(std::size_t n, std::size_t min_samples,
                                      std::size_t heap_bytes) noexcept {
  const std::size_t k = min_samples > 1 ? min_samples - 1 : 1;
  return std::min(n, std::max<std::size_t>(1, heap_bytes / (4 * k)));
}

/// Device memory exact_hdbscan needs at most, in bytes (the account in the
/// file comment), Thrust's temporary storage not included.
constexpr std::uint64_t exact_device_bytes(std::uint64_t n, std::uint64_t stride, std::uint64_t min_samples,
                                           std::uint64_t heap_bytes) noexcept {
  const std::uint64_t k = min_samples > 1 ? min_samples - 1 : 0;
  const std::uint64_t rows =
      k == 0 ? 0 : std::min<std::uint64_t>(n, std::max<std::uint64_t>(1, heap_bytes / (4 * k)));
  return 8 * n * stride + 4 * rows * k + 80 * n;
}

/// The components of a Borůvka on the implicit complete graph and the tree
/// edges found so far: comp[i] = the root of i's component (an item of it,
/// comp[root] == root); tree has room for n - 1 edges, the first `edges` set
/// (d = the mutual reachability weight).
struct join_state {
  thrust::device_vector<std::uint32_t> comp;
  thrust::device_vector<forest_edge> tree;
  std::size_t edges = 0;
};

/// One Borůvka's per-round buffers over n items, for join_components and
/// knn.cuh's list_forest: each root's lightest pair (best_w, best_p; reset
/// between rounds), the live roots and the hooking state.
struct round_buffers {
  explicit round_buffers(const thrust::device_vector<std::uint32_t>& comp)
      : parent(comp),
        roots(comp),
        next_roots(comp.size()),
        jump(comp.size()),
        best_w(comp.size(), exact_impl::kNone32),
        best_p(comp.size(), exact_impl::kNone),
        hooked(comp.size()),
        stays(comp.size()),
        edge_of(comp.size()) {}
  thrust::device_vector<std::uint32_t> parent, roots, next_roots, jump, best_w;
  thrust::device_vector<exact_impl::u64> best_p;
  thrust::device_vector<std::uint8_t> hooked, stays;
  thrust::device_vector<forest_edge> edge_of;
};

/// The end of a round, once best_w/best_p hold each of the `active` roots'
/// lightest pair: every root hooks along its pair (components::hooks), the
/// chosen edges are appended to st.tree; then, if any was, the roots' pairs
/// are reset, pointers jumped, the roots that stay kept (active updated) and
/// st.comp relabelled. Returns the edges added (0: no root had another
/// component to reach, and nothing else changed).
inline std::size_t hook_and_contract(round_buffers& r, join_state& st, std::size_t& active) {
  using namespace exact_impl;
  using thrust::counting_iterator;
  thrust::for_each(counting_iterator<std::size_t>(0), counting_iterator<std::size_t>(active),
                   hook{raw(r.roots), raw(st.comp), raw(r.best_w), raw(r.best_p), raw(r.parent),
                        raw(r.hooked), raw(r.stays), raw(r.edge_of)});
  const auto e_end =
      thrust::copy_if(r.edge_of.begin(), r.edge_of.begin() + static_cast<std::ptrdiff_t>(active),
                      r.hooked.begin(), st.tree.begin() + static_cast<std::ptrdiff_t>(st.edges), is_set{});
  const std::size_t added = static_cast<std::size_t>(e_end - st.tree.begin()) - st.edges;
  if (added == 0) return 0;
  st.edges += added;
  thrust::for_each(r.roots.begin(), r.roots.begin() + static_cast<std::ptrdiff_t>(active),
                   reset_root{raw(r.best_w), raw(r.best_p)});
  components::flatten_roots(r.parent, r.roots, active, r.jump);
  active = components::keep_roots(r.roots, r.next_roots, r.stays, active);
  thrust::transform(st.comp.begin(), st.comp.end(), st.comp.begin(), relabel{raw(r.parent)});
  return added;
}

/// Step 3: Borůvka rounds on the complete mutual-reachability graph from the
/// components of st until one is left; every round scans the columns in
/// tiles of `cols` (see the file comment). floor: as scan_tile's.
template <class Report>
void join_components(const exact_impl::distance& dist, thrust::device_vector<float>& core,
                     thrust::device_vector<float>& floor, std::size_t cols, join_state& st, Report&& report) {
  using namespace exact_impl;
  using thrust::counting_iterator;
  const std::size_t n = st.comp.size();
  thrust::device_vector<std::uint32_t>& comp = st.comp;
  round_buffers r(comp);
  thrust::device_vector<std::uint32_t> row_w(n);
  thrust::device_vector<u64> row_p(n);
  // The roots: the items that name their own component.
  std::size_t active = static_cast<std::size_t>(
      thrust::copy_if(counting_iterator<std::uint32_t>(0),
                      counting_iterator<std::uint32_t>(static_cast<std::uint32_t>(n)), r.roots.begin(),
                      is_root{raw(comp)}) -
      r.roots.begin());
  std::size_t& edges = st.edges;
  while (active > 1) {
    thrust::fill(row_w.begin(), row_w.end(), kNone32);
    thrust::fill(row_p.begin(), row_p.end(), kNone);
    thrust::for_each(counting_iterator<std::size_t>(0), counting_iterator<std::size_t>(active),
                     seed_root{dist, raw(core), raw(r.roots), active, raw(r.best_w), raw(row_w), raw(row_p)});
    for (std::size_t c0 = 0; c0 < n; c0 += cols) {
      thrust::for_each(counting_iterator<std::size_t>(0), counting_iterator<std::size_t>(n),
                       scan_tile{dist, raw(core), raw(floor), raw(comp), raw(r.best_w), raw(row_w),
                                 raw(row_p), c0, std::min(n, c0 + cols)});
      report("mst", edges, n - 1);
    }
    thrust::for_each(counting_iterator<std::size_t>(0), counting_iterator<std::size_t>(n),
                     best_pair_of{raw(comp), raw(r.best_w), raw(row_w), raw(row_p), raw(r.best_p)});
    expects(hook_and_contract(r, st, active) > 0, error_code::internal,
            "GPU exact: a Borůvka round joined no components");
  }
  expects(edges == n - 1, error_code::internal,
          "GPU exact: " + std::to_string(edges) + " tree edges for " + std::to_string(n) + " items");
  report("mst", n - 1, n - 1);
}

/// The argument checks of exact_hdbscan (and knn_hdbscan): `what` names the stage.
inline void check_exact_input(const exact_input& in, const std::string& what) {
  const std::size_t n = in.n, stride = in.stride, ms = in.min_samples;
  expects(stride >= in.dim && stride % 16 == 0 && stride > 0, error_code::invalid_argument,
          what + ": row stride " + std::to_string(stride) + " for " + std::to_string(in.dim) +
              " columns (expected a multiple of 16, at least the column count)");
  expects(in.rows.size() == n * stride, error_code::invalid_argument,
          what + ": " + std::to_string(in.rows.size()) + " values for " + std::to_string(n) +
              " rows of stride " + std::to_string(stride));
  expects(n < (std::size_t{1} << 32), error_code::unsupported,
          what + ": " + std::to_string(n) + " items, at most 2^32 - 1");
  expects(ms >= 1 && ms <= std::max<std::size_t>(n, 1), error_code::invalid_argument,
          what + ": min_samples = " + std::to_string(ms) + " for " + std::to_string(n) +
              " items (expected 1..n)");
  expects(static_cast<int>(in.metric) >= 0 && static_cast<int>(in.metric) <= 4, error_code::invalid_argument,
          what + ": unknown metric " + std::to_string(static_cast<int>(in.metric)));
}

/// Step 1: the rows uploaded and transposed to column-major (x_k of item i at
/// k * n + i); the row-major copy is freed on return.
inline thrust::device_vector<float> upload_columns(const exact_input& in) {
  using thrust::counting_iterator;
  thrust::device_vector<float> xt(in.n * in.stride);
  thrust::device_vector<float> rows(in.rows.data(), in.rows.data() + in.rows.size());
  const auto gather = thrust::make_transform_iterator(
      counting_iterator<std::size_t>(0), exact_impl::transpose{exact_impl::raw(rows), in.n, in.stride});
  thrust::copy(gather, gather + static_cast<std::ptrdiff_t>(in.n * in.stride), xt.begin());
  return xt;
}

/// Exact core distances and minimum spanning tree under mutual reachability
/// (see the file comment for the contract, algorithm, memory and errors).
inline exact_tree exact_hdbscan(const exact_input& in, const exact_options& opt = {}) {
  using namespace exact_impl;
  using thrust::counting_iterator;
  const std::size_t n = in.n, stride = in.stride, ms = in.min_samples;
  check_exact_input(in, "GPU exact");
  exact_tree out;
  out.core.assign(n, 0.0f);
  if (n == 0) return out;
  auto report = [&](const char* stage, std::size_t done, std::size_t total) {
    if (opt.progress) opt.progress(stage, done, total);
  };
  const std::size_t cols = std::min(n, opt.tile_cols > 0 ? opt.tile_cols : exact_tile_cols(n, stride));

  // 1. Upload and transpose.
  const thrust::device_vector<float> xt = upload_columns(in);
  const distance dist{thrust::raw_pointer_cast(xt.data()), n, stride, in.metric};

  // 2. Core distances.
  thrust::device_vector<float> core(n, 0.0f);
  if (ms > 1) {
    const std::size_t k = ms - 1, block = exact_heap_rows(n, ms, opt.heap_bytes);
    thrust::device_vector<float> heap(block * k);
    for (std::size_t r0 = 0; r0 < n; r0 += block) {
      const std::size_t count = std::min(block, n - r0);
      thrust::fill(heap.begin(), heap.begin() + static_cast<std::ptrdiff_t>(count * k),
                   std::numeric_limits<float>::infinity());
      for (std::size_t c0 = 0; c0 < n; c0 += cols) {
        thrust::for_each(counting_iterator<std::size_t>(0), counting_iterator<std::size_t>(count),
                         core_tile{dist, raw(heap), r0, count, k, c0, std::min(n, c0 + cols)});
        report("core distances", r0 + count * (std::min(n, c0 + cols)) / n, n);
      }
      thrust::for_each(counting_iterator<std::size_t>(0), counting_iterator<std::size_t>(count),
                       core_of_block{raw(heap), raw(core), r0});
    }
  }
  report("core distances", n, n);
  out.core.resize(n);
  thrust::copy(core.begin(), core.end(), out.core.begin());
  if (n == 1) return out;

  // 3. Borůvka rounds from singletons.
  join_state st;
  st.tree.resize(n - 1);
  st.comp.resize(n);
  thrust::sequence(st.comp.begin(), st.comp.end());
  join_components(dist, core, core, cols, st, report);

  // 4. The tree in (w, a, b) order.
  thrust::sort(st.tree.begin(), st.tree.end(), tree_order{});
  out.edges.resize(n - 1);
  thrust::copy(st.tree.begin(), st.tree.end(), out.edges.begin());
  return out;
}

}  // namespace chutoro::cuda_detail
