// chutoro — minimum spanning forest by Borůvka's algorithm on a Thrust device
// system: the GPU spanning-forest solver of the CUDA backend (issue 11).
//
// Entry point (host in, host out; the signature is stable):
//
//   std::vector<chutoro::cuda_detail::forest_edge>
//   chutoro::cuda_detail::boruvka_forest(std::size_t n,
//                                        std::span<const forest_edge> edges,
//                                        std::span<const forest_edge> more,
//                                        std::span<const float> core);
//
// It returns exactly what the CPU's detail::minimum_spanning_forest(n, edges,
// more, core) (src/core/mst/candidate_graph.hpp, Filter-Kruskal) returns: the
// minimum spanning forest of the union of `edges` and `more` on items 0..n-1
// under mutual reachability w = max(core[a], core[b], d) (max(0, d) when
// `core` is empty, as the CPU computes it), ties broken by (w, min id, max id),
// each edge as (min id, max id, its raw distance d), in Kruskal order (sorted by
// (w, a, b)). forest_edge has raw_edge's layout, so the caller passes and gets
// the same bytes. Self-loops are dropped; an edge given as (b, a) is the edge
// (a, b); of parallel edges the lightest counts. Shapes: edges/more any
// length; core n floats or empty. Units: those of the distance.
//
// Source: Borůvka (1926), "O jistém problému minimálním"; the data-parallel
// formulation (per-component lightest edge, hooking, pointer jumping, edge
// list compaction) follows Vineet, Harish, Patidar, Narayanan, "Fast minimum
// spanning tree for large graphs on the GPU" (HPG 2009) and, for the 64-bit
// (weight, edge) atomic minimum and the component-labelled edge list, Fallin,
// Gonzalez, Seo, Burtscher, "A high-performance MST implementation for GPUs"
// (ECL-MST, SC 2023). Written here from the papers' descriptions.
//
// Algorithm (every step is a Thrust algorithm or a for_each functor, so the
// same source runs on the CUDA system (nvcc) and on the OpenMP or C++ systems
// (g++ -DTHRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP -fopenmp)):
//  1. Upload both edge lists once into one device array; reject ids >= n.
//  2. Per edge: (a, b) = (min, max), weight w as above, a 64-bit pair key
//     (a << 32 | b) and a 64-bit order key (wkey(w) << 32 | dkey(d)), where
//     wkey/dkey map a float to an unsigned integer of the same order (flip all
//     bits of a negative, set the sign bit of a positive; wkey also maps -0 to
//     +0, which compare equal as weights). Self-loops get the largest pair key.
//  3. Sort by pair key (radix sort on CUDA), then reduce_by_key with min: one
//     edge per pair, the lightest (ties between parallel edges of equal weight
//     and different d, where the CPU's pick is unspecified: the smallest d).
//     Edge i of this table now has a rank in (a, b) order.
//  4. Borůvka rounds over a working list of (component of a, component of b,
//     wkey, table index), components named by a root item (initially a, b):
//     a. lightest edge per component: a scatter-min reduce, each edge offering
//        the key (wkey << 32 | position in the list) to both components' slots
//        with an atomic 64-bit minimum (skipped when the slot already holds a
//        smaller key). Keys are distinct and order edges by (w, a, b): wkey
//        orders by w exactly as the CPU's float comparison does (NaN aside,
//        see below), and equal wkeys fall to the position, which orders by
//        table index (the list only ever loses edges by a stable compaction)
//        and so by (a, b) — pairs are unique after step 3. So each component
//        picks the lightest crossing edge under the CPU's strict total order,
//        an edge of the unique minimum spanning forest under it (cut property),
//        and the CPU's Kruskal under the same order builds that same forest.
//     b. hooking: component r whose edge leads to component s sets parent[r] = s
//        and marks the edge chosen, except when s chose the same edge (the only
//        cycles the choice graph can have under a strict order are such 2-cycles)
//        and r < s: then r stays a root. Each root writes only its own parent
//        slot and each edge is marked by one root, so no compare-and-swap is
//        needed; a component without crossing edges leaves the active set.
//     c. pointer jumping over the previous roots (parent = grandparent, read and
//        written in separate passes) until each points at its new root.
//     d. relabel each listed edge's components and drop (stream-compact, stable)
//        those now inside one component. Repeat while any edge is listed; the
//        number of components with crossing edges at least halves per round.
//  5. Sort the chosen edges' keys (wkey << 32 | table index): Kruskal order.
//
// Complexity: O(E) for the radix sort on CUDA (O(E log E) comparison sort on
// the CPU systems), then at most ceil(log2 n) rounds, each O(E_r + R_r log n)
// work (E_r listed edges, R_r active components; the listed edges shrink
// quickly on typical graphs), O(F log F) for the final sort of F <= n - 1 edges.
// Device memory: the input array (12 B per input edge) plus its pair and order
// keys (16 B) at first; the input is freed before the sort, which needs twice
// the keys: at most 32 B per input edge; then 49 B per distinct edge (table
// 16 B, working list 16 B twice, a chosen flag) + 25 B per item; plus Thrust's
// temporary storage. So O(edges + n) bytes. Limits: at most 2^32 - 1 distinct
// non-loop edges and n <= 2^32 (error_code::unsupported beyond).
//
// Determinism: the atomic minimum is order-independent and every other step is
// a deterministic Thrust algorithm, so the result is bit-identical whatever the
// thread count, block schedule or device (the `deterministic` capability holds).
// NaN weights (only possible with NaN core distances; chutoro rejects NaN
// distances) have no order on the CPU; here they sort above +inf (positive
// NaN) or below -inf (negative NaN).
//
// Errors: chutoro::error(invalid_argument) when an edge names an item >= n
// (naming the list, the 0-based position and the ids) or core has neither 0 nor
// n values; error(unsupported) past the limits above; std::bad_alloc or
// thrust::system_error (CUDA system) when device memory runs out or the device
// fails.
//
// Thread safety: reentrant (no shared state). On the CUDA system it runs on
// the default stream of the calling thread's current device and returns after
// the device finishes; calls from several host threads are safe and serialise
// on the legacy default stream.
#pragma once

#if !defined(__CUDACC__) && !defined(THRUST_DEVICE_SYSTEM)
#error \
    "boruvka.cuh: compile with nvcc, or with a host compiler and -DTHRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP (or _CPP) and CCCL's include directory"
#endif

#include <thrust/copy.h>
#include <thrust/count.h>
#include <thrust/device_vector.h>
#include <thrust/find.h>
#include <thrust/for_each.h>
#include <thrust/functional.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>
#include <thrust/iterator/zip_iterator.h>
#include <thrust/logical.h>
#include <thrust/reduce.h>
#include <thrust/scatter.h>
#include <thrust/sequence.h>
#include <thrust/sort.h>
#include <thrust/transform.h>
#include <thrust/tuple.h>
#include <thrust/unique.h>

#include <chutoro/error.hpp>
#include <cstddef>
#include <cstdint>
#include <cuda/atomic>
#include <cuda/std/bit>
#include <span>
#include <string>
#include <utility>
#include <vector>

#if defined(__CUDACC__)
#define CHUTORO_HD __host__ __device__
#else
#define CHUTORO_HD
#endif

namespace chutoro::cuda_detail {

/// A weighted edge: items a and b (0-based), raw distance d (float32). The
/// same layout as chutoro::detail::raw_edge (12 bytes: uint32, uint32, float).
struct forest_edge {
  std::uint32_t a;
  std::uint32_t b;
  float d;
};

namespace boruvka_impl {

using u64 = unsigned long long;  // the type CUDA's 64-bit atomics take
inline constexpr u64 kNone = ~u64{0};
inline constexpr u64 kLow = 0xFFFFFFFFull;

/// Order-preserving map float -> uint32 (a bijection on bit patterns).
CHUTORO_HD inline std::uint32_t order_key(float x) {
  const auto u = cuda::std::bit_cast<std::uint32_t>(x);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
CHUTORO_HD inline float from_order_key(std::uint32_t k) {
  return cuda::std::bit_cast<float>((k & 0x80000000u) ? (k & 0x7FFFFFFFu) : ~k);
}
/// order_key for a weight: -0 and +0 are the same weight (they compare equal).
CHUTORO_HD inline std::uint32_t weight_key(float w) { return order_key(w == 0.0f ? 0.0f : w); }

struct out_of_range {
  std::size_t n;
  CHUTORO_HD bool operator()(const forest_edge& e) const { return e.a >= n || e.b >= n; }
};

/// Step 2: (pair key, order key) of one edge, weights as the CPU's weigh().
struct prepare {
  const float* core;  // null: no core distances
  CHUTORO_HD thrust::tuple<u64, u64> operator()(const forest_edge& e) const {
    const std::uint32_t a = e.a < e.b ? e.a : e.b, b = e.a < e.b ? e.b : e.a;
    if (a == b) return thrust::make_tuple(kNone, kNone);
    // Exactly the CPU's std::max(std::max(core[a], core[b]), d) (same operand order).
    const float c = core == nullptr ? 0.0f : (core[a] < core[b] ? core[b] : core[a]);
    const float w = c < e.d ? e.d : c;
    return thrust::make_tuple((u64{a} << 32) | b, (u64{weight_key(w)} << 32) | order_key(e.d));
  }
};

struct min_op {
  CHUTORO_HD u64 operator()(u64 x, u64 y) const { return y < x ? y : x; }
};

/// An edge of the working list: its ends' components, weight key, table index.
struct work_edge {
  std::uint32_t ca, cb, wkey, idx;
};

struct make_work {
  const u64* pair;
  const u64* key;
  CHUTORO_HD work_edge operator()(std::uint64_t i) const {
    return {static_cast<std::uint32_t>(pair[i] >> 32), static_cast<std::uint32_t>(pair[i] & kLow),
            static_cast<std::uint32_t>(key[i] >> 32), static_cast<std::uint32_t>(i)};
  }
};

CHUTORO_HD inline void offer(u64& slot, u64 key) {
  cuda::atomic_ref<u64, cuda::thread_scope_device> ref(slot);
  if (key < ref.load(cuda::std::memory_order_relaxed)) ref.fetch_min(key, cuda::std::memory_order_relaxed);
}

/// Step 4a: each listed edge offers (wkey, position) to both components.
struct lightest {
  const work_edge* list;
  u64* best;
  CHUTORO_HD void operator()(std::uint64_t pos) const {
    const work_edge e = list[pos];
    const u64 key = (u64{e.wkey} << 32) | pos;
    offer(best[e.ca], key);
    offer(best[e.cb], key);
  }
};

/// Step 4b: hook root k onto the component its lightest edge leads to.
struct hook {
  const std::uint32_t* roots;
  const u64* best;
  const work_edge* list;
  std::uint32_t* parent;
  std::uint8_t* chosen;
  std::uint8_t* stays;  // 1: root with crossing edges that remains a root
  CHUTORO_HD void operator()(std::uint64_t k) const {
    const std::uint32_t r = roots[k];
    const u64 b = best[r];
    stays[k] = 0;
    if (b == kNone) return;  // no crossing edge left: done for good
    const work_edge e = list[b & kLow];
    const std::uint32_t s = e.ca == r ? e.cb : e.ca;
    if (best[s] == b && r < s) {  // mutual choice: the smaller id stays root
      stays[k] = 1;
      return;
    }
    parent[r] = s;
    chosen[e.idx] = 1;
  }
};

struct reset_best {
  u64* best;
  CHUTORO_HD void operator()(std::uint32_t r) const { best[r] = kNone; }
};

struct grandparent {
  const std::uint32_t* parent;
  CHUTORO_HD std::uint32_t operator()(std::uint32_t v) const { return parent[parent[v]]; }
};

struct is_flat {
  const std::uint32_t* parent;
  CHUTORO_HD bool operator()(std::uint32_t v) const { return parent[parent[v]] == parent[v]; }
};

struct relabel {
  const std::uint32_t* parent;
  CHUTORO_HD work_edge operator()(const work_edge& e) const {
    return {parent[e.ca], parent[e.cb], e.wkey, e.idx};
  }
};

struct crossing {
  CHUTORO_HD bool operator()(const work_edge& e) const { return e.ca != e.cb; }
};

struct is_set {
  CHUTORO_HD bool operator()(std::uint8_t x) const { return x != 0; }
};

/// Step 5: the sort key of table edge i: (wkey << 32) | i.
struct final_key {
  const u64* key;
  CHUTORO_HD u64 operator()(std::uint64_t i) const { return (key[i] & ~kLow) | i; }
};

struct to_edge {
  const u64* pair;
  const u64* key;
  CHUTORO_HD forest_edge operator()(u64 k) const {
    const u64 i = k & kLow;
    return {static_cast<std::uint32_t>(pair[i] >> 32), static_cast<std::uint32_t>(pair[i] & kLow),
            from_order_key(static_cast<std::uint32_t>(key[i] & kLow))};
  }
};

template <class T>
T* raw(thrust::device_vector<T>& v) {
  return thrust::raw_pointer_cast(v.data());
}
template <class T>
void release(thrust::device_vector<T>& v) {
  thrust::device_vector<T>().swap(v);
}

}  // namespace boruvka_impl

/// Minimum spanning forest of `edges` and `more` under mutual reachability, by
/// Borůvka on the Thrust device system; bit-identical to
/// detail::minimum_spanning_forest(n, edges, more, core). See the file comment
/// for the contract, complexity, memory, errors and thread safety.
inline std::vector<forest_edge> boruvka_forest(std::size_t n, std::span<const forest_edge> edges,
                                               std::span<const forest_edge> more,
                                               std::span<const float> core) {
  using namespace boruvka_impl;
  using thrust::counting_iterator;
  expects(core.empty() || core.size() == n, error_code::invalid_argument,
          "GPU spanning forest: core distances have " + std::to_string(core.size()) + " values for " +
              std::to_string(n) + " items (expected " + std::to_string(n) + " or none)");
  expects(n <= (std::size_t{1} << 32), error_code::unsupported,
          "GPU spanning forest: " + std::to_string(n) + " items, more than 2^32");
  const std::size_t m = edges.size() + more.size();
  if (m == 0) return {};

  // 1. Upload once; check the ids.
  thrust::device_vector<forest_edge> input(m);
  thrust::copy(edges.data(), edges.data() + edges.size(), input.begin());
  thrust::copy(more.data(), more.data() + more.size(),
               input.begin() + static_cast<std::ptrdiff_t>(edges.size()));
  const auto bad = thrust::find_if(input.begin(), input.end(), out_of_range{n});
  if (bad != input.end()) {
    const auto at = static_cast<std::size_t>(bad - input.begin());
    const bool first = at < edges.size();
    const forest_edge e = first ? edges[at] : more[at - edges.size()];
    throw error(error_code::invalid_argument,
                std::string("GPU spanning forest: ") + (first ? "edges" : "more") + "[" +
                    std::to_string(first ? at : at - edges.size()) + "] (0-based) joins items " +
                    std::to_string(e.a) + " and " + std::to_string(e.b) + ", but there are only " +
                    std::to_string(n) + " items (ids 0.." + std::to_string(n) + " - 1)");
  }

  // 2. Pair and order keys; 3. one edge per pair, sorted by (a, b).
  thrust::device_vector<u64> pair(m), key(m);
  {
    thrust::device_vector<float> dcore(core.data(), core.data() + core.size());
    thrust::transform(input.begin(), input.end(), thrust::make_zip_iterator(pair.begin(), key.begin()),
                      prepare{core.empty() ? nullptr : raw(dcore)});
  }
  release(input);
  thrust::sort_by_key(pair.begin(), pair.end(), key.begin());
  std::size_t u = thrust::unique_count(pair.begin(), pair.end());
  thrust::device_vector<u64> tpair(u), tkey(u);
  thrust::reduce_by_key(pair.begin(), pair.end(), key.begin(), tpair.begin(), tkey.begin(),
                        thrust::equal_to<u64>(), min_op{});
  release(pair);
  release(key);
  if (tpair[u - 1] == kNone) --u;  // the self-loops, sorted last
  if (u == 0) return {};
  expects(u <= kLow, error_code::unsupported,
          "GPU spanning forest: " + std::to_string(u) + " distinct edges, more than 2^32 - 1");

  // 4. Borůvka rounds.
  thrust::device_vector<work_edge> list(u), spare(u);
  thrust::transform(counting_iterator<std::uint64_t>(0), counting_iterator<std::uint64_t>(u), list.begin(),
                    make_work{raw(tpair), raw(tkey)});
  thrust::device_vector<std::uint8_t> chosen(u, 0);
  thrust::device_vector<std::uint32_t> parent(n), roots(n), next_roots(n), jump(n);
  thrust::device_vector<std::uint8_t> stays(n);
  thrust::device_vector<u64> best(n, kNone);
  thrust::sequence(parent.begin(), parent.end());
  thrust::sequence(roots.begin(), roots.end());
  std::size_t listed = u, active = n;
  while (listed > 0) {
    thrust::for_each(counting_iterator<std::uint64_t>(0), counting_iterator<std::uint64_t>(listed),
                     lightest{raw(list), raw(best)});
    thrust::for_each(counting_iterator<std::uint64_t>(0), counting_iterator<std::uint64_t>(active),
                     hook{raw(roots), raw(best), raw(list), raw(parent), raw(chosen), raw(stays)});
    const auto r_begin = roots.begin(), r_end = roots.begin() + static_cast<std::ptrdiff_t>(active);
    thrust::for_each(r_begin, r_end, reset_best{raw(best)});
    while (!thrust::all_of(r_begin, r_end, is_flat{raw(parent)})) {
      thrust::transform(r_begin, r_end, jump.begin(), grandparent{raw(parent)});
      thrust::scatter(jump.begin(), jump.begin() + static_cast<std::ptrdiff_t>(active), r_begin,
                      parent.begin());
    }
    // Pointer jumping leaves every previous root one step from its root (a root
    // is its own parent), so one lookup relabels an edge's ends.
    const auto kept = thrust::copy_if(r_begin, r_end, stays.begin(), next_roots.begin(), is_set{});
    active = static_cast<std::size_t>(kept - next_roots.begin());
    roots.swap(next_roots);
    const auto relabelled = thrust::make_transform_iterator(list.begin(), relabel{raw(parent)});
    const auto end = thrust::copy_if(relabelled, relabelled + static_cast<std::ptrdiff_t>(listed),
                                     spare.begin(), crossing{});
    listed = static_cast<std::size_t>(end - spare.begin());
    list.swap(spare);
  }
  release(list);
  release(spare);

  // 5. The chosen edges in Kruskal order.
  const auto forest_size = static_cast<std::size_t>(thrust::count(chosen.begin(), chosen.end(), 1));
  thrust::device_vector<u64> order(forest_size);
  const auto keys =
      thrust::make_transform_iterator(counting_iterator<std::uint64_t>(0), final_key{raw(tkey)});
  thrust::copy_if(keys, keys + static_cast<std::ptrdiff_t>(u), chosen.begin(), order.begin(), is_set{});
  thrust::sort(order.begin(), order.end());
  thrust::device_vector<forest_edge> forest(forest_size);
  thrust::transform(order.begin(), order.end(), forest.begin(), to_edge{raw(tpair), raw(tkey)});
  std::vector<forest_edge> out(forest_size);
  thrust::copy(forest.begin(), forest.end(), out.begin());
  return out;
}

}  // namespace chutoro::cuda_detail
