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
// `core` is empty, as the CPU computes it), ties broken by (w, min id, max id,
// d), each edge as (min id, max id, its raw distance d), in Kruskal order
// (sorted by (w, a, b)). forest_edge has raw_edge's layout, so the caller
// passes and gets the same bytes. Self-loops are dropped; an edge given as
// (b, a) is the edge (a, b); of parallel edges the lightest counts, and of
// parallel edges of equal weight the one with the smallest d (as on the CPU).
// Shapes: edges/more any length; core n floats or empty.
// Units: those of the distance.
//
// Source: Borůvka (1926), "O jistém problému minimálním"; the data-parallel
// formulation (per-component lightest edge, hooking, pointer jumping, edge
// list compaction) follows Vineet, Harish, Patidar, Narayanan, "Fast minimum
// spanning tree for large graphs on the GPU" (HPG 2009) and, for atomic
// minima over an edge list labelled with components (no per-round sort),
// Fallin, Gonzalez, Seo, Burtscher, "A high-performance MST implementation for
// GPUs" (ECL-MST, SC 2023). Written here from the papers' descriptions.
//
// Algorithm (every step is a Thrust algorithm or a for_each functor, so the
// same source runs on the CUDA system (nvcc) and on the OpenMP or C++ systems
// (g++ -DTHRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP -fopenmp)):
//  1. Upload both edge lists once into one device array (kept to the end) and
//     stage each position: its working-list entry, ids >= n recorded (and
//     rejected before the solve). boruvka_upload holds this state, so a
//     caller can upload in chunks and stage each chunk as it lands
//     (forest.cu overlaps the two on separate CUDA streams).
//  2. A working list of (component of a, component of b, wkey(w), input
//     index) for the edges that are not self-loops (stream compaction of the
//     staged entries), where
//     wkey maps a float weight to an unsigned integer of the same order (flip
//     all bits of a negative, set the sign bit of a positive; -0 maps as +0,
//     the two compare equal). Components are named by a root item, at first
//     the items themselves.
//  3. Borůvka rounds:
//     a. lightest crossing edge per component, under the strict total order
//        (wkey, pair key min(a,b) << 32 | max(a,b), dkey(d), position in the
//        list), as three scatter-min reduces with atomic minima (each skipped
//        when the slot already holds a smaller value): the minimum wkey; among
//        edges of that weight the minimum pair; among those, the minimum
//        (dkey << 32 | position), which names the edge. Positions are unique,
//        so the order is strict; it refines the CPU's (w, a, b, d) order,
//        whose only ties are identical edges. Under a strict total order
//        the minimum spanning forest is unique and contains every component's
//        lightest crossing edge (cut property); Kruskal under the CPU's order
//        builds the same forest.
//     b. hooking: component r whose edge leads to component s sets parent[r] = s
//        and marks the edge chosen, except when s chose the same edge (the only
//        cycles the choice graph can have under a strict order are such 2-cycles)
//        and r < s: then r stays a root. Each root writes only its own parent
//        slot and each edge is marked by one root, so no compare-and-swap is
//        needed; a component without crossing edges leaves the active set.
//     c. pointer jumping over the previous roots (parent = grandparent, read and
//        written in separate passes) until each points at its new root.
//     d. relabel each listed edge's components and drop (stream-compact,
//        stable) those now inside one component. Repeat while any edge is
//        listed; the number of components with crossing edges at least halves
//        per round.
//  4. The chosen edges in Kruskal order: sort by pair key, then stably by wkey
//     (radix sorts on CUDA); ids as (min, max) with the raw d.
// No sort of the whole edge list is needed: weights are computed on the fly
// and parallel edges are ordered by the total order above.
//
// Complexity: at most ceil(log2 n) rounds, each O(E_r + R_r log n) work (E_r
// listed edges, R_r active components; the list shrinks quickly on typical
// graphs), then O(F) radix sorts (CUDA; O(F log F) on the CPU systems) of the
// F <= n - 1 forest edges. Device memory: the input (12 B per edge), the
// working list twice (32 B per non-loop edge), a chosen flag (1 B per edge),
// core distances and per-item state (41 B per item), the F forest edges
// (24 B each); plus Thrust's temporary storage: O(edges + n) bytes, about
// 45 B per edge + 65 B per item at most (boruvka_device_bytes). Limits: at most 2^32 - 1 edges in
// all and n <= 2^32 (error_code::unsupported beyond).
//
// Determinism: the atomic minima are order-independent and every other step is
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
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>
#include <thrust/logical.h>
#include <thrust/scatter.h>
#include <thrust/sequence.h>
#include <thrust/sort.h>
#include <thrust/transform.h>

#include <chutoro/error.hpp>
#include <cstddef>
#include <cstdint>
#include <cuda/atomic>
#include <cuda/std/bit>
#include <span>
#include <string>
#include <vector>

#include "cuda/components.cuh"  // hooking, pointer jumping, CHUTORO_HD

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
inline constexpr std::uint32_t kNone32 = 0xFFFFFFFFu;

/// Order-preserving map float -> uint32 (a bijection on bit patterns).
CHUTORO_HD inline std::uint32_t order_key(float x) {
  const auto u = cuda::std::bit_cast<std::uint32_t>(x);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
/// order_key for a weight: -0 and +0 are the same weight (they compare equal).
CHUTORO_HD inline std::uint32_t weight_key(float w) { return order_key(w == 0.0f ? 0.0f : w); }

CHUTORO_HD inline u64 pair_key(const forest_edge& e) {
  return e.a < e.b ? (u64{e.a} << 32) | e.b : (u64{e.b} << 32) | e.a;
}

struct out_of_range {
  std::size_t n;
  CHUTORO_HD bool operator()(const forest_edge& e) const { return e.a >= n || e.b >= n; }
};

/// wkey of an edge, the weight as the CPU's weigh() computes it.
struct weigh {
  const float* core;  // null: no core distances
  CHUTORO_HD std::uint32_t operator()(const forest_edge& e) const {
    const std::uint32_t a = e.a < e.b ? e.a : e.b, b = e.a < e.b ? e.b : e.a;
    // Exactly the CPU's std::max(std::max(core[a], core[b]), d) (same operand order).
    const float c = core == nullptr ? 0.0f : (core[a] < core[b] ? core[b] : core[a]);
    return weight_key(c < e.d ? e.d : c);
  }
};

/// An edge of the working list: its ends' components, weight key, input index.
struct work_edge {
  std::uint32_t ca, cb, wkey, idx;
};

struct make_work {
  const forest_edge* input;
  weigh w;
  CHUTORO_HD work_edge operator()(std::uint64_t i) const {
    const forest_edge e = input[i];
    return {e.a, e.b, w(e), static_cast<std::uint32_t>(i)};
  }
};

template <class T>
CHUTORO_HD void offer(T& slot, T value) {
  cuda::atomic_ref<T, cuda::thread_scope_device> ref(slot);
  if (value < ref.load(cuda::std::memory_order_relaxed))
    ref.fetch_min(value, cuda::std::memory_order_relaxed);
}

/// Step 3a, first reduce: the lightest weight key per component.
struct lightest_weight {
  const work_edge* list;
  std::uint32_t* best_w;
  CHUTORO_HD void operator()(std::uint64_t pos) const {
    const work_edge e = list[pos];
    offer(best_w[e.ca], e.wkey);
    offer(best_w[e.cb], e.wkey);
  }
};

/// Second reduce: among the edges of that weight, the smallest pair key.
struct lightest_pair {
  const work_edge* list;
  const forest_edge* input;
  const std::uint32_t* best_w;
  u64* best_p;
  CHUTORO_HD void operator()(std::uint64_t pos) const {
    const work_edge e = list[pos];
    const bool at_a = best_w[e.ca] == e.wkey, at_b = best_w[e.cb] == e.wkey;
    if (!at_a && !at_b) return;
    const u64 p = pair_key(input[e.idx]);
    if (at_a) offer(best_p[e.ca], p);
    if (at_b) offer(best_p[e.cb], p);
  }
};

/// Third reduce: among those, the smallest (dkey << 32 | position).
struct lightest_edge {
  const work_edge* list;
  const forest_edge* input;
  const std::uint32_t* best_w;
  const u64* best_p;
  u64* best_e;
  CHUTORO_HD void operator()(std::uint64_t pos) const {
    const work_edge e = list[pos];
    const bool at_a = best_w[e.ca] == e.wkey, at_b = best_w[e.cb] == e.wkey;
    if (!at_a && !at_b) return;
    const forest_edge x = input[e.idx];
    const u64 p = pair_key(x), key = (u64{weight_key(x.d)} << 32) | pos;  // -0 as +0, as the CPU compares
    if (at_a && best_p[e.ca] == p) offer(best_e[e.ca], key);
    if (at_b && best_p[e.cb] == p) offer(best_e[e.cb], key);
  }
};

/// Step 3b: hook root k onto the component its lightest edge leads to.
struct hook {
  const std::uint32_t* roots;
  const u64* best_e;
  const work_edge* list;
  std::uint32_t* parent;
  std::uint8_t* chosen;
  std::uint8_t* stays;  // 1: root with crossing edges that remains a root
  CHUTORO_HD void operator()(std::uint64_t k) const {
    const std::uint32_t r = roots[k];
    const u64 b = best_e[r];
    stays[k] = 0;
    if (b == kNone) return;  // no crossing edge left: done for good
    const work_edge e = list[b & kLow];
    const std::uint32_t s = e.ca == r ? e.cb : e.ca;
    if (!components::hooks(r, s, best_e[s] == b)) {  // mutual choice: the smaller id stays root
      stays[k] = 1;
      return;
    }
    parent[r] = s;
    chosen[e.idx] = 1;
  }
};

struct reset_best {
  std::uint32_t* best_w;
  u64* best_p;
  u64* best_e;
  CHUTORO_HD void operator()(std::uint32_t r) const {
    best_w[r] = kNone32;
    best_p[r] = kNone;
    best_e[r] = kNone;
  }
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

using components::is_set;

/// Step 4: keys and the result edge of input edge i.
struct pair_of {
  const forest_edge* input;
  CHUTORO_HD u64 operator()(std::uint32_t i) const { return pair_key(input[i]); }
};
struct weight_of {
  const forest_edge* input;
  weigh w;
  CHUTORO_HD std::uint32_t operator()(std::uint32_t i) const { return w(input[i]); }
};
struct result_edge {
  const forest_edge* input;
  CHUTORO_HD forest_edge operator()(std::uint32_t i) const {
    const forest_edge e = input[i];
    return e.a < e.b ? e : forest_edge{e.b, e.a, e.d};
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

/// Device memory boruvka_forest needs at most for n items and m edges in all,
/// in bytes, by the account in the file comment (45 B per edge, 65 B per item),
/// Thrust's temporary storage not included.
constexpr std::uint64_t boruvka_device_bytes(std::uint64_t n, std::uint64_t m) noexcept {
  return 45 * m + 65 * n;
}

namespace boruvka_impl {

/// Steps 1-2 for input position i (after its upload): the working-list entry
/// of edge i, its weight key computed once. An edge naming an item >= n is
/// recorded in *first_bad (the smallest such position wins) and listed as a
/// self-loop, so it never reads core out of range; step 2's compaction drops
/// loops. Positions are independent: any subset may run, in any order.
struct stage_edge {
  const forest_edge* input;
  std::size_t n;
  weigh w;
  work_edge* list;
  u64* first_bad;
  CHUTORO_HD void operator()(std::uint64_t i) const {
    const forest_edge e = input[i];
    const auto idx = static_cast<std::uint32_t>(i);
    if (e.a >= n || e.b >= n) {
      offer(*first_bad, static_cast<u64>(i));
      list[i] = {0, 0, 0, idx};
      return;
    }
    list[i] = {e.a, e.b, w(e), idx};
  }
};

}  // namespace boruvka_impl

/// The argument checks of boruvka_forest: core has 0 or n values, n <= 2^32,
/// m < 2^32 edges in all. Throws error(invalid_argument / unsupported).
inline void boruvka_check(std::size_t n, std::size_t m, std::size_t core_size) {
  expects(core_size == 0 || core_size == n, error_code::invalid_argument,
          "GPU spanning forest: core distances have " + std::to_string(core_size) + " values for " +
              std::to_string(n) + " items (expected " + std::to_string(n) + " or none)");
  expects(n <= (std::size_t{1} << 32), error_code::unsupported,
          "GPU spanning forest: " + std::to_string(n) + " items, more than 2^32");
  expects(m <= boruvka_impl::kLow, error_code::unsupported,
          "GPU spanning forest: " + std::to_string(m) + " edges, more than 2^32 - 1");
}

/// The device state of one Borůvka call between the upload of its edges and
/// the solve: the input edges (uploaded once, kept to the end), the core
/// distances, the working list being staged and the first bad position. A
/// caller that uploads the edges itself (forest.cu: in chunks on a copy
/// stream, overlapped with stage() of the previous chunk on a compute stream)
/// fills input() and runs stage() over every position before solve().
class boruvka_upload {
 public:
  /// Allocates for m edges on n items (throws std::bad_alloc or
  /// thrust::system_error when device memory runs out) and uploads `core`.
  boruvka_upload(std::size_t n, std::size_t m, std::span<const float> core)
      : n_(n),
        input_(m),
        core_(core.data(), core.data() + core.size()),
        list_(m),
        first_bad_(1, boruvka_impl::kNone) {}

  /// The m device slots the edges go to, in the order edges then more.
  forest_edge* input() { return boruvka_impl::raw(input_); }
  std::size_t size() const { return input_.size(); }
  /// The functor staging position i (steps 1-2); run it over [0, m) on any
  /// stream after the position's upload, before solve().
  boruvka_impl::stage_edge stage() {
    using namespace boruvka_impl;
    return {raw(input_), n_, weigh{core_.empty() ? nullptr : raw(core_)}, raw(list_), raw(first_bad_)};
  }

  // The solve's state (boruvka_solve).
  std::size_t n_;
  thrust::device_vector<forest_edge> input_;
  thrust::device_vector<float> core_;
  thrust::device_vector<boruvka_impl::work_edge> list_;
  thrust::device_vector<boruvka_impl::u64> first_bad_;
};

/// Steps 2 (compaction of the staged list) to 4 on the current device's
/// default stream, after every position of `up` was uploaded and staged;
/// `edges` and `more` are the host lists uploaded (for the error naming a
/// bad id). The result and errors of boruvka_forest.
inline std::vector<forest_edge> boruvka_solve(boruvka_upload& up, std::span<const forest_edge> edges,
                                              std::span<const forest_edge> more) {
  using namespace boruvka_impl;
  using thrust::counting_iterator;
  const std::size_t n = up.n_, m = up.input_.size();
  const u64 bad_at = up.first_bad_[0];
  if (bad_at != kNone) {
    const auto at = static_cast<std::size_t>(bad_at);
    const bool first = at < edges.size();
    const forest_edge e = first ? edges[at] : more[at - edges.size()];
    throw error(error_code::invalid_argument,
                std::string("GPU spanning forest: ") + (first ? "edges" : "more") + "[" +
                    std::to_string(first ? at : at - edges.size()) + "] (0-based) joins items " +
                    std::to_string(e.a) + " and " + std::to_string(e.b) + ", but there are only " +
                    std::to_string(n) + " items (ids 0.." + std::to_string(n) + " - 1)");
  }
  thrust::device_vector<forest_edge>& input = up.input_;
  const weigh w{up.core_.empty() ? nullptr : raw(up.core_)};

  // 2. The working list: every edge but self-loops (stream compaction of the staged list).
  thrust::device_vector<work_edge>& list = up.list_;
  thrust::device_vector<work_edge> spare(m);
  std::size_t listed = static_cast<std::size_t>(
      thrust::copy_if(list.begin(), list.end(), spare.begin(), crossing{}) - spare.begin());
  list.swap(spare);

  // 3. Borůvka rounds.
  thrust::device_vector<std::uint8_t> chosen(m, 0);
  thrust::device_vector<std::uint32_t> parent(n), roots(n), next_roots(n), jump(n), best_w(n, kNone32);
  thrust::device_vector<std::uint8_t> stays(n);
  thrust::device_vector<u64> best_p(n, kNone), best_e(n, kNone);
  thrust::sequence(parent.begin(), parent.end());
  thrust::sequence(roots.begin(), roots.end());
  std::size_t active = n;
  while (listed > 0) {
    const counting_iterator<std::uint64_t> p0(0), p1(listed);
    thrust::for_each(p0, p1, lightest_weight{raw(list), raw(best_w)});
    thrust::for_each(p0, p1, lightest_pair{raw(list), raw(input), raw(best_w), raw(best_p)});
    thrust::for_each(p0, p1, lightest_edge{raw(list), raw(input), raw(best_w), raw(best_p), raw(best_e)});
    thrust::for_each(counting_iterator<std::uint64_t>(0), counting_iterator<std::uint64_t>(active),
                     hook{raw(roots), raw(best_e), raw(list), raw(parent), raw(chosen), raw(stays)});
    thrust::for_each(roots.begin(), roots.begin() + static_cast<std::ptrdiff_t>(active),
                     reset_best{raw(best_w), raw(best_p), raw(best_e)});
    // Pointer jumping leaves every previous root one step from its root (a root
    // is its own parent), so one lookup relabels an edge's ends.
    components::flatten_roots(parent, roots, active, jump);
    active = components::keep_roots(roots, next_roots, stays, active);
    const auto relabelled = thrust::make_transform_iterator(list.begin(), relabel{raw(parent)});
    const auto end = thrust::copy_if(relabelled, relabelled + static_cast<std::ptrdiff_t>(listed),
                                     spare.begin(), crossing{});
    listed = static_cast<std::size_t>(end - spare.begin());
    list.swap(spare);
  }
  release(list);
  release(spare);

  // 4. The chosen edges in Kruskal order: by pair, then stably by weight.
  const auto forest_size = static_cast<std::size_t>(thrust::count(chosen.begin(), chosen.end(), 1));
  if (forest_size == 0) return {};
  thrust::device_vector<std::uint32_t> order(forest_size);
  thrust::copy_if(counting_iterator<std::uint32_t>(0),
                  counting_iterator<std::uint32_t>(static_cast<std::uint32_t>(m)), chosen.begin(),
                  order.begin(), is_set{});
  {
    thrust::device_vector<u64> pairs(forest_size);
    thrust::transform(order.begin(), order.end(), pairs.begin(), pair_of{raw(input)});
    thrust::sort_by_key(pairs.begin(), pairs.end(), order.begin());  // pairs are distinct
  }
  {
    thrust::device_vector<std::uint32_t> weights(forest_size);
    thrust::transform(order.begin(), order.end(), weights.begin(), weight_of{raw(input), w});
    thrust::stable_sort_by_key(weights.begin(), weights.end(), order.begin());
  }
  thrust::device_vector<forest_edge> forest(forest_size);
  thrust::transform(order.begin(), order.end(), forest.begin(), result_edge{raw(input)});
  std::vector<forest_edge> out(forest_size);
  thrust::copy(forest.begin(), forest.end(), out.data());
  return out;
}

/// Minimum spanning forest of `edges` and `more` under mutual reachability, by
/// Borůvka on the Thrust device system; bit-identical to
/// detail::minimum_spanning_forest(n, edges, more, core) (up to the distance
/// carried by parallel edges of equal weight, whose choice the CPU leaves
/// open). See the file comment for the contract, complexity, memory, errors
/// and thread safety. Uploads with plain copies (forest.cu streams them).
inline std::vector<forest_edge> boruvka_forest(std::size_t n, std::span<const forest_edge> edges,
                                               std::span<const forest_edge> more,
                                               std::span<const float> core) {
  boruvka_check(n, edges.size() + more.size(), core.size());
  const std::size_t m = edges.size() + more.size();
  if (m == 0) return {};
  boruvka_upload up(n, m, core);
  thrust::copy(edges.data(), edges.data() + edges.size(), up.input_.begin());
  thrust::copy(more.data(), more.data() + more.size(),
               up.input_.begin() + static_cast<std::ptrdiff_t>(edges.size()));
  thrust::for_each(thrust::counting_iterator<std::uint64_t>(0), thrust::counting_iterator<std::uint64_t>(m),
                   up.stage());
  return boruvka_solve(up, edges, more);
}

}  // namespace chutoro::cuda_detail
