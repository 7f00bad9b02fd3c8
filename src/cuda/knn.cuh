// chutoro — GPU candidates for FISHDBC at scale (issue 12, deliverable 2) on
// a Thrust device system: the exact k-nearest-neighbour graph of dense
// float32 rows by tiles, its minimum spanning forest under mutual
// reachability, and the components left disconnected joined by an exact
// tiled search for the lightest cross-component edge. The result is a
// spanning tree (core distances, n - 1 edges) handed to the host like the
// exact stage's; the hierarchy stays on the CPU.
//
// Entry points (host in, host out):
//
//   knn_tree  chutoro::cuda_detail::knn_hdbscan(const exact_input& in,
//                                               const knn_options& opt = {});
//   knn_lists chutoro::cuda_detail::knn_graph(const exact_input& in, std::size_t k,
//                                             const knn_options& opt = {});  // tests
//
// Rows, metrics and distances: exact.cuh's (the same distance functor, so
// every distance is the value the exact stage computes for the pair).
//
// Result:
//  - k = knn_neighbours(n, min_samples, opt.k_graph) = min(n - 1,
//    max(min_samples - 1, k_graph, 1)) neighbours per item (the item itself
//    not counted), k_graph = 2 min_samples when opt.k_graph is 0: the k nearest
//    other items under the order (distance, id) — unique, so the graph does
//    not depend on the tile order or the device;
//  - core[i] = the (min_samples - 1)-th of them (the exact core distance: the
//    same value exact_hdbscan gives), 0 for min_samples 1;
//  - the candidate edges are the n k kNN edges; their minimum spanning forest
//    under mutual reachability w = max(core[a], core[b], d), ties by (w, min
//    id, max id), by Borůvka rounds over the lists themselves;
//  - then Borůvka rounds on the complete graph (exact.cuh's join_components)
//    from the forest's components until one is left: every component's
//    lightest edge to another component, found by an exact tiled scan, is
//    added. Where the kNN graph is connected (the usual case for k >=
//    min_samples on clustered data) no round runs;
//  - the tree: n - 1 edges (a < b, d = the mutual reachability weight)
//    sorted by (d, a, b), as exact_hdbscan gives them.
// The tree is a minimum spanning tree of the kNN graph plus the join edges,
// an approximation of the exact one (FISHDBC's approximation, with kNN edges
// as candidates instead of HNSW's): with k = n - 1 the candidates are every
// pair and the tree is exact_hdbscan's, edge for edge.
//
// Algorithm:
//  1. Upload and transpose (exact.cuh's upload_columns).
//  2. kNN lists by tiles: exact.cuh's core_tile with ids, per row a max-heap
//     of the k smallest (distance, id) seen, fused into the tile pass; rows in
//     blocks whose heaps fit opt.heap_bytes; each block's heaps sorted
//     ascending in place (heapsort per row) into row-major lists. Never an
//     n x n matrix. Core distances and each item's floor = max(core, its k-th
//     neighbour distance) follow (every item outside i's list is at least
//     that far, and none of i's list is in another component: the scan's
//     bound, exact.cuh's scan_tile).
//  3. Borůvka rounds over the row-major lists (list_forest; the lists are
//     the graph, no edge list is built): entry (i, slot) is the edge (i,
//     ids[i k + slot]), weighed on the fly, w = max(core[a], core[b], d).
//     Each round, every entry joining two components offers its weight to
//     both components (atomic minima; an edge may be in one list only, so
//     both ends are offered), then among the entries at that weight the
//     smallest pair (min id, max id): the order of boruvka.cuh and exact.cuh.
//     Hooking, pointer jumping and relabelling as in exact.cuh's rounds
//     (components.cuh); a component with no crossing entry is done. Rounds
//     end when no entry joins two components: the minimum spanning forest of
//     the kNN graph (unique under the strict order, so the same edges the
//     first version of this stage got from boruvka.cuh over an edge list of
//     the n k entries: tested, GpuKnn.ListForestEqualsEdgeListForest).
//  4. The lists freed; the forest's components are the rounds' (comp: each
//     item's root).
//  5. join_components (exact.cuh): at most ceil(log2 c) rounds for c
//     components, each a pruned tiled scan; a root's first candidate is its
//     edge to the next root, so the bound prunes from the first tile on.
//  6. The n - 1 edges sorted by (w, a, b) to the host.
//
// Complexity: O(n^2 dim) for the kNN lists (the tiles), O(n k) per forest
// round (at most ceil(log2 n) rounds), and per join round at most O(n^2
// dim), pruned: rows and columns whose floor exceeds their component's best
// candidate are skipped unmeasured. Beyond the size where the all-pairs kNN
// pass pays (n^2 dim ~ 10^16 flops, ~minutes on one GPU), an approximate kNN
// graph (NN-descent) would replace step 2 only: docs/gpu.md.
//
// Device memory (knn_device_bytes, phase by phase): data = the rows (4 B x n
// x stride), twice during the transpose; then data + the lists (8 B x n x k)
// + one row block's heaps (8 B x rows x k, rows <= max(2^18, n / 4)) + 8 B x
// n; then data + the lists + 66 B x n (the forest rounds); then data + 78 B x
// n (the join, the lists freed). At the default k = 2 min_samples the peak
// is data + max(16 B x n x min_samples + 66 B x n, 16 B x (n + rows) x
// min_samples + 8 B x n): from 2^20 items on (rows <= n / 4) at most data +
// 20 B x n x min_samples + 66 B x n; below 2^18 items (one block, rows = n)
// up to data + 32 B x n x min_samples + 8 B x n. Plus Thrust's temporaries.
// The first version fed an edge list to boruvka.cuh (45 B per kNN edge):
// data + 90 B x n x min_samples + 73 B x n. Computed from the allocations,
// not measured on a GPU (docs/gpu.md).
//
// Determinism: bit-identical whatever the thread count, tile shape or
// schedule (every choice is under a strict order; atomics are minima).
//
// Errors: exact_hdbscan's for bad shapes, n >= 2^32 and device failures;
// whatever opt.progress throws (cancellation), between tiles.
//
// Thread safety: reentrant (no shared state). On the CUDA system it runs on
// the calling thread's current device, default stream.
#pragma once

#include <thrust/device_vector.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/sort.h>
#include <thrust/transform.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <vector>

#include "cuda/boruvka.cuh"
#include "cuda/components.cuh"
#include "cuda/exact.cuh"
#include "cuda/knn_plan.hpp"  // knn_neighbours, knn_heap_rows, knn_device_bytes

namespace chutoro::cuda_detail {

/// Tuning and reporting of knn_hdbscan (defaults suit a GPU; tests shrink the tiles).
struct knn_options {
  /// Neighbours per item (see knn_neighbours); 0: 2 min_samples. cuML takes
  /// k = min_samples; on the shared data that gave ARI 0.62 (clusterable_data,
  /// min_samples 5) and 0.72 (digits, 10) against the exact tree, 2
  /// min_samples gave 1.0 on both (OpenMP system, docs/gpu.md).
  std::size_t k_graph = 0;
  /// Columns per tile (0: exact_tile_cols); device bytes for one row block's heaps.
  std::size_t tile_cols = 0;
  std::size_t heap_bytes = std::size_t{1} << 30;
  /// Called between tiles with ("knn", rows done, n) and ("mst", edges, n - 1);
  /// may throw to cancel.
  std::function<void(const char* stage, std::size_t done, std::size_t total)> progress;
};

/// knn_hdbscan's result: core distances, the tree (edges a < b, d = the
/// mutual reachability weight, sorted by (d, a, b)), the neighbours per item
/// used and the number of components of the kNN graph (1: no join ran).
struct knn_tree {
  std::vector<float> core;
  std::vector<forest_edge> edges;
  std::size_t k = 0;
  std::size_t knn_components = 0;
};

/// knn_graph's result: row i's k neighbours ids[i * k + s] at distances
/// dists[i * k + s], ascending by (distance, id).
struct knn_lists {
  std::size_t k = 0;
  std::vector<std::uint32_t> ids;
  std::vector<float> dists;
};

namespace knn_impl {

using boruvka_impl::raw;

/// Row r0 + t's heap (slot-major in the block) sorted ascending by (distance,
/// id) into row-major lists at (r0 + t) * k.
struct sort_heap {
  const float* heap;
  const std::uint32_t* heap_ids;
  std::size_t r0, count, k;
  float* dists;
  std::uint32_t* ids;
  CHUTORO_HD static bool after(float d1, std::uint32_t j1, float d2, std::uint32_t j2) {
    return d1 > d2 || (d1 == d2 && j1 > j2);
  }
  CHUTORO_HD void operator()(std::size_t t) const {
    float* d = dists + (r0 + t) * k;
    std::uint32_t* id = ids + (r0 + t) * k;
    for (std::size_t s = 0; s < k; ++s) d[s] = heap[s * count + t], id[s] = heap_ids[s * count + t];
    // A max-heap already: heapsort's extraction phase.
    for (std::size_t end = k; end > 1; --end) {
      const float td = d[0];
      const std::uint32_t ti = id[0];
      const std::size_t last = end - 1;
      const float xd = d[last];
      const std::uint32_t xi = id[last];
      d[last] = td, id[last] = ti;
      std::size_t s = 0;
      for (;;) {  // sift (xd, xi) down in [0, last)
        const std::size_t l = 2 * s + 1;
        if (l >= last) break;
        std::size_t c = l;
        if (l + 1 < last && after(d[l + 1], id[l + 1], d[l], id[l])) c = l + 1;
        if (!after(d[c], id[c], xd, xi)) break;
        d[s] = d[c], id[s] = id[c];
        s = c;
      }
      d[s] = xd, id[s] = xi;
    }
  }
};

/// Core distance and floor of item i from its sorted list.
struct core_and_floor {
  const float* dists;
  std::size_t k, min_samples;
  float* core;
  float* floor;
  CHUTORO_HD void operator()(std::size_t i) const {
    const float c = min_samples > 1 ? dists[i * k + (min_samples - 2)] : 0.0f;
    const float r = dists[i * k + (k - 1)];
    core[i] = c;
    floor[i] = c < r ? r : c;
  }
};

/// Mutual reachability weight key of the kNN entry (i, j) at distance d:
/// boruvka.cuh's weigh() of the edge (the CPU's operand order), so every
/// entry weighs what the edge-list forest gave it.
CHUTORO_HD inline std::uint32_t entry_key(const float* core, std::uint32_t i, std::uint32_t j, float d) {
  const std::uint32_t a = i < j ? i : j, b = i < j ? j : i;
  const float c = core[a] < core[b] ? core[b] : core[a];
  return boruvka_impl::weight_key(c < d ? d : c);
}

/// Step 3, a Borůvka round over the lists, first reduce: entry e = i * k + s
/// (the edge (i, ids[e])) joining two components offers its weight key to
/// both components' best_w (the edge is in i's list, perhaps not in j's: so
/// both ends are offered, and the per-component minima cover every kNN edge).
struct list_lightest_weight {
  const std::uint32_t* ids;
  const float* dists;
  const float* core;
  const std::uint32_t* comp;
  std::size_t k;
  std::uint32_t* best_w;
  CHUTORO_HD void operator()(std::size_t e) const {
    const auto i = static_cast<std::uint32_t>(e / k);
    const std::uint32_t j = ids[e], ci = comp[i], cj = comp[j];
    if (ci == cj) return;
    const std::uint32_t wk = entry_key(core, i, j, dists[e]);
    boruvka_impl::offer(best_w[ci], wk);
    boruvka_impl::offer(best_w[cj], wk);
  }
};

/// Second reduce: among the entries at a component's best weight, the
/// smallest pair key (min id << 32 | max id): the order (w, min id, max id)
/// of boruvka.cuh and exact.cuh. A pair listed twice (i in j's list and j in
/// i's) has one distance (every metric here is symmetric bit for bit), so
/// (w, pair) names one edge.
struct list_lightest_pair {
  const std::uint32_t* ids;
  const float* dists;
  const float* core;
  const std::uint32_t* comp;
  std::size_t k;
  const std::uint32_t* best_w;
  boruvka_impl::u64* best_p;
  CHUTORO_HD void operator()(std::size_t e) const {
    const auto i = static_cast<std::uint32_t>(e / k);
    const std::uint32_t j = ids[e], ci = comp[i], cj = comp[j];
    if (ci == cj) return;
    const std::uint32_t wk = entry_key(core, i, j, dists[e]);
    const bool at_i = best_w[ci] == wk, at_j = best_w[cj] == wk;
    if (!at_i && !at_j) return;
    using boruvka_impl::u64;
    const u64 p = i < j ? (u64{i} << 32) | j : (u64{j} << 32) | i;
    if (at_i) boruvka_impl::offer(best_p[ci], p);
    if (at_j) boruvka_impl::offer(best_p[cj], p);
  }
};

/// Step 2: the sorted kNN lists (n x k, row-major) on the device.
template <class Report>
void lists(const exact_impl::distance& dist, std::size_t n, std::size_t k, std::size_t cols,
           std::size_t heap_bytes, thrust::device_vector<std::uint32_t>& ids,
           thrust::device_vector<float>& dists, Report&& report) {
  using thrust::counting_iterator;
  ids.resize(n * k);
  dists.resize(n * k);
  const std::size_t block = knn_heap_rows(n, k, heap_bytes);
  thrust::device_vector<float> heap(block * k);
  thrust::device_vector<std::uint32_t> heap_ids(block * k);
  for (std::size_t r0 = 0; r0 < n; r0 += block) {
    const std::size_t count = std::min(block, n - r0);
    const auto slots = static_cast<std::ptrdiff_t>(count * k);
    thrust::fill(heap.begin(), heap.begin() + slots, std::numeric_limits<float>::infinity());
    thrust::fill(heap_ids.begin(), heap_ids.begin() + slots, boruvka_impl::kNone32);
    for (std::size_t c0 = 0; c0 < n; c0 += cols) {
      const std::size_t c1 = std::min(n, c0 + cols);
      thrust::for_each(counting_iterator<std::size_t>(0), counting_iterator<std::size_t>(count),
                       exact_impl::core_tile{dist, raw(heap), r0, count, k, c0, c1, raw(heap_ids)});
      report("knn", r0 + count * c1 / n, n);
    }
    thrust::for_each(counting_iterator<std::size_t>(0), counting_iterator<std::size_t>(count),
                     sort_heap{raw(heap), raw(heap_ids), r0, count, k, raw(dists), raw(ids)});
  }
  report("knn", n, n);
}

/// Step 3: Borůvka rounds over the row-major lists (n x k: the lists are the
/// graph, no edge list is built) from singletons until no kNN edge joins two
/// components: per component the lightest entry under (w, min id, max id),
/// then exact.cuh's hooking, pointer jumping and relabelling. st.comp gets
/// each item's root, st.tree the forest's edges (d = the mutual reachability
/// weight), st.edges their count. At most ceil(log2 n) rounds of O(n k).
template <class Report>
void list_forest(const thrust::device_vector<std::uint32_t>& ids, const thrust::device_vector<float>& dists,
                 const thrust::device_vector<float>& core, std::size_t n, std::size_t k, join_state& st,
                 Report&& report) {
  using namespace exact_impl;
  using thrust::counting_iterator;
  thrust::device_vector<std::uint32_t>& comp = st.comp;
  comp.resize(n);
  thrust::sequence(comp.begin(), comp.end());
  st.tree.resize(n - 1);
  round_buffers r(comp);
  const auto* id = thrust::raw_pointer_cast(ids.data());
  const auto* ds = thrust::raw_pointer_cast(dists.data());
  const auto* cr = thrust::raw_pointer_cast(core.data());
  const counting_iterator<std::size_t> e0(0), e1(n * k);
  std::size_t active = n;
  std::size_t& edges = st.edges;
  edges = 0;
  while (active > 1) {
    thrust::for_each(e0, e1, list_lightest_weight{id, ds, cr, raw(comp), k, raw(r.best_w)});
    thrust::for_each(e0, e1, list_lightest_pair{id, ds, cr, raw(comp), k, raw(r.best_w), raw(r.best_p)});
    // A root without a crossing entry leaves the list for good (every entry
    // touching its component, from either end, lies inside it).
    if (hook_and_contract(r, st, active) == 0) break;  // no kNN edge joins two components: done
    report("mst", edges, n - 1);
  }
}

}  // namespace knn_impl

/// The k nearest other items of every row (see knn_lists), by the tiled pass
/// of knn_hdbscan's step 2. in.min_samples is checked but not used.
inline knn_lists knn_graph(const exact_input& in, std::size_t k, const knn_options& opt = {}) {
  check_exact_input(in, "GPU kNN");
  const std::size_t n = in.n;
  expects(n == 0 || (k >= 1 && k < n), error_code::invalid_argument,
          "GPU kNN: k = " + std::to_string(k) + " neighbours for " + std::to_string(n) +
              " items (expected 1..n - 1)");
  knn_lists out;
  out.k = k;
  if (n == 0) return out;
  const std::size_t cols = std::min(n, opt.tile_cols > 0 ? opt.tile_cols : exact_tile_cols(n, in.stride));
  const thrust::device_vector<float> xt = upload_columns(in);
  const exact_impl::distance dist{thrust::raw_pointer_cast(xt.data()), n, in.stride, in.metric};
  thrust::device_vector<std::uint32_t> ids;
  thrust::device_vector<float> dists;
  knn_impl::lists(dist, n, k, cols, opt.heap_bytes, ids, dists,
                  [&](const char* s, std::size_t d, std::size_t t) {
                    if (opt.progress) opt.progress(s, d, t);
                  });
  out.ids.resize(n * k);
  out.dists.resize(n * k);
  thrust::copy(ids.begin(), ids.end(), out.ids.begin());
  thrust::copy(dists.begin(), dists.end(), out.dists.begin());
  return out;
}

/// GPU candidates: the spanning tree of the kNN graph joined across its
/// components (see the file comment for the contract, algorithm, memory and errors).
inline knn_tree knn_hdbscan(const exact_input& in, const knn_options& opt = {}) {
  using namespace knn_impl;
  using thrust::counting_iterator;
  check_exact_input(in, "GPU kNN candidates");
  const std::size_t n = in.n, ms = in.min_samples;
  knn_tree out;
  out.core.assign(n, 0.0f);
  out.knn_components = n;
  if (n == 0) return out;
  if (n == 1) {
    out.knn_components = 1;
    return out;
  }
  auto report = [&](const char* stage, std::size_t done, std::size_t total) {
    if (opt.progress) opt.progress(stage, done, total);
  };
  const std::size_t k = knn_neighbours(n, ms, opt.k_graph);
  out.k = k;
  const std::size_t cols = std::min(n, opt.tile_cols > 0 ? opt.tile_cols : exact_tile_cols(n, in.stride));

  // 1-2. Upload; the kNN lists; core distances and floors.
  const thrust::device_vector<float> xt = upload_columns(in);
  const exact_impl::distance dist{thrust::raw_pointer_cast(xt.data()), n, in.stride, in.metric};
  thrust::device_vector<float> core(n), floor(n);
  join_state st;
  {
    thrust::device_vector<std::uint32_t> ids;
    thrust::device_vector<float> dists;
    lists(dist, n, k, cols, opt.heap_bytes, ids, dists, report);
    thrust::for_each(counting_iterator<std::size_t>(0), counting_iterator<std::size_t>(n),
                     core_and_floor{raw(dists), k, ms, raw(core), raw(floor)});
    thrust::copy(core.begin(), core.end(), out.core.begin());

    // 3-4. The lists' minimum spanning forest and its components; the lists freed.
    list_forest(ids, dists, core, n, k, st, report);
  }
  out.knn_components = n - st.edges;

  // 5. Join the components (no round when the kNN graph is connected).
  join_components(dist, core, floor, cols, st, report);

  // 6. The tree in (w, a, b) order.
  thrust::sort(st.tree.begin(), st.tree.end(), exact_impl::tree_order{});
  out.edges.resize(n - 1);
  thrust::copy(st.tree.begin(), st.tree.end(), out.edges.begin());
  return out;
}

}  // namespace chutoro::cuda_detail
