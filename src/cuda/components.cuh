// chutoro — the component bookkeeping that the Thrust Borůvka solvers share
// (boruvka.cuh on an edge list, exact.cuh on the implicit complete graph,
// knn.cuh on the kNN lists and then the complete graph): the hooking rule,
// pointer jumping over the roots that hooked, the new root list, and the
// connected components of an edge list on the device (label_components: the
// first version of knn.cuh labelled its kNN forest so; now the kNN tests'
// reference of that version does).
//
// Components are named by a root item r with parent[r] == r. A Borůvka round
// hooks roots onto other roots (parent[r] = s, each root writing only its own
// slot); flatten_roots then jumps pointers (parent = grandparent, read and
// written in separate passes, so the result does not depend on the schedule)
// until every previous root points at a root, and keep_roots keeps the roots
// that stayed. Source: the hooking and pointer jumping of Shiloach & Vishkin,
// "An O(log n) parallel connectivity algorithm" (J. Algorithms 1982), as the
// GPU Borůvka of Vineet et al. (HPG 2009) uses them.
//
// Every step is a Thrust algorithm or a for_each functor (CUDA, OpenMP or
// C++ device system). Deterministic; reentrant.
#pragma once

#if !defined(__CUDACC__) && !defined(THRUST_DEVICE_SYSTEM)
#error \
    "components.cuh: compile with nvcc, or with a host compiler and -DTHRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP (or _CPP) and CCCL's include directory"
#endif

#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/logical.h>
#include <thrust/scatter.h>
#include <thrust/sequence.h>
#include <thrust/transform.h>

#include <cstddef>
#include <cstdint>
#include <cuda/atomic>

#if defined(__CUDACC__)
#define CHUTORO_HD __host__ __device__
#else
#define CHUTORO_HD
#endif

namespace chutoro::cuda_detail::components {

/// Whether root r, whose lightest edge leads to component s, hooks onto s:
/// not when s chose the same edge (`mutual`; under a strict total order the
/// only cycles of the choice graph are such 2-cycles) and r < s (the smaller
/// root stays a root).
CHUTORO_HD inline bool hooks(std::uint32_t r, std::uint32_t s, bool mutual) { return !(mutual && r < s); }

struct grandparent {
  const std::uint32_t* parent;
  CHUTORO_HD std::uint32_t operator()(std::uint32_t v) const { return parent[parent[v]]; }
};
struct is_flat {
  const std::uint32_t* parent;
  CHUTORO_HD bool operator()(std::uint32_t v) const { return parent[parent[v]] == parent[v]; }
};
struct is_set {
  CHUTORO_HD bool operator()(std::uint8_t x) const { return x != 0; }
};

/// Pointer jumping over roots[0..active) until each points at a root
/// (parent[parent[r]] == parent[r]); jump has room for `active` values.
inline void flatten_roots(thrust::device_vector<std::uint32_t>& parent,
                          thrust::device_vector<std::uint32_t>& roots, std::size_t active,
                          thrust::device_vector<std::uint32_t>& jump) {
  const auto r_begin = roots.begin(), r_end = roots.begin() + static_cast<std::ptrdiff_t>(active);
  const std::uint32_t* p = thrust::raw_pointer_cast(parent.data());
  while (!thrust::all_of(r_begin, r_end, is_flat{p})) {
    thrust::transform(r_begin, r_end, jump.begin(), grandparent{p});
    thrust::scatter(jump.begin(), jump.begin() + static_cast<std::ptrdiff_t>(active), r_begin,
                    parent.begin());
  }
}

/// The roots k < active with stays[k] set, in order, become roots[0..result)
/// (next_roots is the spare buffer, swapped in).
inline std::size_t keep_roots(thrust::device_vector<std::uint32_t>& roots,
                              thrust::device_vector<std::uint32_t>& next_roots,
                              const thrust::device_vector<std::uint8_t>& stays, std::size_t active) {
  const auto kept = thrust::copy_if(roots.begin(), roots.begin() + static_cast<std::ptrdiff_t>(active),
                                    stays.begin(), next_roots.begin(), is_set{});
  const auto count = static_cast<std::size_t>(kept - next_roots.begin());
  roots.swap(next_roots);
  return count;
}

/// Hooks the larger of the two labels of an edge's ends onto the smaller
/// (Edge: any struct with item ids a and b).
template <class Edge>
struct hook_edge {
  const Edge* edges;
  std::uint32_t* label;
  std::uint32_t* changed;
  CHUTORO_HD void operator()(std::size_t e) const {
    cuda::atomic_ref<std::uint32_t, cuda::thread_scope_device> la_ref(label[edges[e].a]),
        lb_ref(label[edges[e].b]);
    const std::uint32_t la = la_ref.load(cuda::std::memory_order_relaxed),
                        lb = lb_ref.load(cuda::std::memory_order_relaxed);
    if (la == lb) return;
    const std::uint32_t lo = la < lb ? la : lb, hi = la < lb ? lb : la;
    cuda::atomic_ref<std::uint32_t, cuda::thread_scope_device>(label[hi]).fetch_min(
        lo, cuda::std::memory_order_relaxed);
    cuda::atomic_ref<std::uint32_t, cuda::thread_scope_device>(*changed).store(
        1, cuda::std::memory_order_relaxed);
  }
};

/// label[v] = label[label[v]] for every item (a root, pointed at by its own
/// slot, keeps its label).
struct jump_all {
  std::uint32_t* label;
  CHUTORO_HD void operator()(std::size_t v) const {
    cuda::atomic_ref<std::uint32_t, cuda::thread_scope_device> self(label[v]);
    const std::uint32_t l = self.load(cuda::std::memory_order_relaxed);
    const std::uint32_t g = cuda::atomic_ref<std::uint32_t, cuda::thread_scope_device>(label[l]).load(
        cuda::std::memory_order_relaxed);
    if (g < l) self.fetch_min(g, cuda::std::memory_order_relaxed);
  }
};

/// The connected components of the m device edges (edges[e].a, edges[e].b) on items 0..n-1:
/// label[v] = the smallest item of v's component. Hooking (a label only ever
/// decreases, to another item's label, so no cycle forms) and full pointer
/// jumping until no edge joins two labels; O((n + m) log n) work, the result
/// independent of the schedule (the smallest id is unique).
template <class Edge>
void label_components(std::size_t n, const Edge* edges, std::size_t m,
                      thrust::device_vector<std::uint32_t>& label) {
  using thrust::counting_iterator;
  label.resize(n);
  thrust::sequence(label.begin(), label.end());
  thrust::device_vector<std::uint32_t> changed(1, 1);
  std::uint32_t* l = thrust::raw_pointer_cast(label.data());
  while (changed[0] != 0) {
    changed[0] = 0;
    thrust::for_each(counting_iterator<std::size_t>(0), counting_iterator<std::size_t>(m),
                     hook_edge<Edge>{edges, l, thrust::raw_pointer_cast(changed.data())});
    // Flatten: every label a root's (label[label[v]] == label[v]).
    while (
        !thrust::all_of(counting_iterator<std::uint32_t>(0), counting_iterator<std::uint32_t>(n), is_flat{l}))
      thrust::for_each(counting_iterator<std::size_t>(0), counting_iterator<std::size_t>(n), jump_all{l});
  }
}

}  // namespace chutoro::cuda_detail::components
