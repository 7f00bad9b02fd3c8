// chutoro — exact HDBSCAN* over a kd-tree (exact_tree.hpp).
#include "core/mst/exact_tree.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "core/distance_dispatch.hpp"
#include "core/mst/union_find.hpp"

namespace chutoro::detail {

bool exact_tree_supports(const data_source& data) noexcept {
  if (data.kind() != source_kind::dense) return false;
  const dense_metric m = static_cast<const dense_source&>(data).metric();
  return m == dense_metric::euclidean || m == dense_metric::manhattan;
}

bool exact_tree_preferred(std::size_t n, std::size_t dim) noexcept {
  return dim <= exact_tree_max_dim && n >= exact_tree_min_items;
}

candidate_mode resolve_candidates(candidate_mode requested, const data_source& data) noexcept {
  if (requested != candidate_mode::auto_select) return requested;
  if (exact_tree_supports(data) && data.dim() <= auto_tree_max_dim) return candidate_mode::exact;
  if (data.size() <= auto_all_pairs_max_items) return candidate_mode::exact;
  return candidate_mode::hnsw;
}

namespace {

constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr std::size_t kLeafSize = 16;
constexpr std::size_t kBlock = 256;  // items per parallel_for iteration

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// An edge key under the strict order (weight, min id, max id).
struct edge_key {
  float w = kInf;
  std::uint32_t lo = kNone, hi = kNone;
  bool operator<(const edge_key& o) const noexcept {
    if (w != o.w) return w < o.w;
    if (lo != o.lo) return lo < o.lo;
    return hi < o.hi;
  }
};

void atomic_min(std::atomic<float>& a, float v) noexcept {
  float cur = a.load(std::memory_order_relaxed);
  while (v < cur && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
}

template <dense_metric M>
class kd_exact {
 public:
  kd_exact(const dense_source& src, std::size_t min_samples)
      : rows_(*src.matrix()), dist_{rows_}, n_(src.size()), d_(src.dim()), k_(min_samples) {
    // The kernels sum float32 terms over `stride` lanes: relative error below
    // (stride + 2) 2^-24 (sqrt adds less than one more ulp). Bounds computed in
    // double are shrunk (and grown) by four times that before they decide.
    const double rel = 4.0 * static_cast<double>(rows_.stride + 4) * 0x1p-24;
    shrink_ = 1.0 - rel;
    grow_ = 1.0 + rel;
  }

  spanning_tree run(exact_tree_counters& c, progress_ticker* core_tick, progress_ticker* mst_tick) {
    const auto t0 = std::chrono::steady_clock::now();
    build();
    spanning_tree tree;
    tree.n = n_;
    core_distances(c, core_tick);
    if (core_tick) (*core_tick)(n_, true);
    tree.core_distances.assign(n_, 0.0f);
    for (std::size_t p = 0; p < n_; ++p) tree.core_distances[perm_[p]] = core_[p];
    c.seconds_core += seconds_since(t0);
    const auto t1 = std::chrono::steady_clock::now();
    tree.edges = boruvka(c, mst_tick);
    c.seconds_mst += seconds_since(t1);
    return tree;
  }

 private:
  struct node {
    std::uint32_t begin, end;  // positions in tree order
    std::uint32_t left = kNone, right = kNone;
  };

  // ---- geometry (double; exact differences of float32 values)
  [[nodiscard]] double point_bound(const float* q, const float* p) const noexcept {
    double s = 0;
    for (std::size_t j = 0; j < d_; ++j) {
      const double g = static_cast<double>(q[j]) - static_cast<double>(p[j]);
      if constexpr (M == dense_metric::manhattan) {
        s += std::fabs(g);
      } else {
        s += g * g;
      }
    }
    if constexpr (M == dense_metric::manhattan) {
      return s;
    } else {
      return std::sqrt(s);
    }
  }
  /// Distance from q to node `i`'s bounding box (a lower bound on the distance to any item in it).
  [[nodiscard]] double box_bound(const float* q, std::uint32_t i) const noexcept {
    const float* lo = &lo_[std::size_t{i} * d_];
    const float* hi = &hi_[std::size_t{i} * d_];
    double s = 0;
    for (std::size_t j = 0; j < d_; ++j) {
      double g = 0;
      if (q[j] < lo[j]) {
        g = static_cast<double>(lo[j]) - static_cast<double>(q[j]);
      } else if (q[j] > hi[j]) {
        g = static_cast<double>(q[j]) - static_cast<double>(hi[j]);
      }
      if constexpr (M == dense_metric::manhattan) {
        s += g;
      } else {
        s += g * g;
      }
    }
    if constexpr (M == dense_metric::manhattan) {
      return s;
    } else {
      return std::sqrt(s);
    }
  }
  [[nodiscard]] const float* pt(std::size_t pos) const noexcept { return &pts_[pos * d_]; }

  // ---- the tree: median splits on the widest side, leaves of <= kLeafSize items
  void build() {
    perm_.resize(n_);
    std::iota(perm_.begin(), perm_.end(), std::uint32_t{0});
    nodes_.reserve(2 * (n_ / kLeafSize + 1));
    split(0, static_cast<std::uint32_t>(n_));
    pts_.resize(n_ * d_);
    for (std::size_t p = 0; p < n_; ++p) std::copy_n(rows_.row(perm_[p]), d_, &pts_[p * d_]);
    // Tight boxes, bottom-up (children follow their parent in nodes_).
    lo_.assign(nodes_.size() * d_, 0.0f);
    hi_.assign(nodes_.size() * d_, 0.0f);
    for (std::size_t i = nodes_.size(); i-- > 0;) {
      const node& nd = nodes_[i];
      float* lo = &lo_[i * d_];
      float* hi = &hi_[i * d_];
      if (nd.left == kNone) {
        std::copy_n(pt(nd.begin), d_, lo);
        std::copy_n(pt(nd.begin), d_, hi);
        for (std::size_t p = nd.begin + 1; p < nd.end; ++p)
          for (std::size_t j = 0; j < d_; ++j)
            lo[j] = std::min(lo[j], pt(p)[j]), hi[j] = std::max(hi[j], pt(p)[j]);
      } else {
        for (std::size_t j = 0; j < d_; ++j) {
          lo[j] = std::min(lo_[nd.left * d_ + j], lo_[nd.right * d_ + j]);
          hi[j] = std::max(hi_[nd.left * d_ + j], hi_[nd.right * d_ + j]);
        }
      }
    }
  }

  std::uint32_t split(std::uint32_t begin, std::uint32_t end) {
    const auto id = static_cast<std::uint32_t>(nodes_.size());
    nodes_.push_back({begin, end});
    if (end - begin <= kLeafSize) return id;
    std::size_t widest = 0;
    float widest_extent = -1.0f;
    for (std::size_t j = 0; j < d_; ++j) {
      float lo = kInf, hi = -kInf;
      for (std::uint32_t p = begin; p < end; ++p) {
        const float v = rows_.row(perm_[p])[j];
        lo = std::min(lo, v), hi = std::max(hi, v);
      }
      if (hi - lo > widest_extent) widest_extent = hi - lo, widest = j;
    }
    if (!(widest_extent > 0.0f)) return id;  // all items equal: one (large) leaf
    const std::uint32_t mid = begin + (end - begin) / 2;
    std::nth_element(perm_.begin() + begin, perm_.begin() + mid, perm_.begin() + end,
                     [&](std::uint32_t a, std::uint32_t b) {
                       const float va = rows_.row(a)[widest], vb = rows_.row(b)[widest];
                       return va < vb || (va == vb && a < b);
                     });
    const std::uint32_t left = split(begin, mid);
    const std::uint32_t right = split(mid, end);
    nodes_[id].left = left;
    nodes_[id].right = right;
    return id;
  }

  // ---- core distances: the (k - 1) smallest distances to other items
  void core_distances(exact_tree_counters& c, progress_ticker* tick) {
    core_.assign(n_, 0.0f);
    const std::size_t kk = k_ - 1;
    if (kk == 0) return;
    std::atomic<std::uint64_t> pairs{0};
    const std::size_t blocks = (n_ + kBlock - 1) / kBlock;
    parallel_for(
        blocks,
        [&](std::size_t b) {
          std::vector<float> heap;  // max-heap of the kk smallest distances
          heap.reserve(kk + 1);
          std::uint64_t measured = 0;
          for (std::size_t q = b * kBlock, qe = std::min(n_, q + kBlock); q < qe; ++q) {
            heap.clear();
            knn(0, q, heap, kk, measured);
            core_[q] = heap.front();
          }
          pairs.fetch_add(measured, std::memory_order_relaxed);
        },
        tick, kBlock, n_);
    c.core_pairs += pairs.load();
  }

  void knn(std::uint32_t i, std::size_t q, std::vector<float>& heap, std::size_t kk,
           std::uint64_t& measured) const {
    const node& nd = nodes_[i];
    const float* x = pt(q);
    if (nd.left == kNone) {
      for (std::size_t p = nd.begin; p < nd.end; ++p) {
        if (p == q) continue;
        ++measured;
        if (heap.size() == kk && point_bound(x, pt(p)) * shrink_ > heap.front()) continue;
        const float dv = dist_(perm_[q], perm_[p]);
        if (heap.size() < kk) {
          heap.push_back(dv);
          std::push_heap(heap.begin(), heap.end());
        } else if (dv < heap.front()) {
          std::pop_heap(heap.begin(), heap.end());
          heap.back() = dv;
          std::push_heap(heap.begin(), heap.end());
        }
      }
      return;
    }
    const double bl = box_bound(x, nd.left) * shrink_, br = box_bound(x, nd.right) * shrink_;
    const std::uint32_t first = bl <= br ? nd.left : nd.right, second = bl <= br ? nd.right : nd.left;
    const double b2 = bl <= br ? br : bl;
    if (heap.size() < kk || std::min(bl, br) <= heap.front()) knn(first, q, heap, kk, measured);
    if (heap.size() < kk || b2 <= heap.front()) knn(second, q, heap, kk, measured);
  }

  // ---- Borůvka
  struct search_state {
    std::size_t q;
    std::uint32_t qid, comp;
    float core;
    edge_key best;
    std::uint32_t best_pos = kNone;
    std::atomic<float>* comp_bound;
    std::uint64_t measured = 0;
    [[nodiscard]] double bound() const noexcept {
      return std::min(best.w, comp_bound->load(std::memory_order_relaxed));
    }
  };

  /// Lower bound of the edges from the searching item into node i, or +inf
  /// when the node can be skipped.
  [[nodiscard]] double node_bound(const search_state& s, std::uint32_t i) const noexcept {
    if (node_comp_[i] == s.comp) return kInf;
    const double lb = std::max({static_cast<double>(s.core), static_cast<double>(node_min_core_[i]),
                                box_bound(pt(s.q), i) * shrink_});
    const double bound = s.bound();
    if (lb > bound) return kInf;
    if (lb == static_cast<double>(s.best.w)) {
      // Equal weights: the ids decide. Every edge (q, p) into the node has
      // key >= (lb, min(q, min id), ...).
      const std::uint32_t mid = node_min_id_[i];
      const edge_key lower{s.best.w, std::min(s.qid, mid), s.qid < mid ? mid : 0};
      if (s.best < lower) return kInf;
    }
    return lb;
  }

  /// Searches node i (node_bound(s, i) was finite) for q's lightest edge.
  void search(std::uint32_t i, search_state& s) const {
    const node& nd = nodes_[i];
    if (nd.left == kNone) {
      const float* x = pt(s.q);
      for (std::size_t p = nd.begin; p < nd.end; ++p) {
        if (comp_[p] == s.comp) continue;
        ++s.measured;
        const float m = std::max(s.core, core_[p]);
        const double approx = point_bound(x, pt(p));
        if (std::max(static_cast<double>(m), approx * shrink_) > s.bound()) continue;
        // The kernel's value is needed only where it may exceed both core distances.
        const float w = approx * grow_ <= static_cast<double>(m) ? m : std::max(m, dist_(s.qid, perm_[p]));
        const std::uint32_t pid = perm_[p];
        const edge_key key{w, std::min(s.qid, pid), std::max(s.qid, pid)};
        if (key < s.best) {
          s.best = key;
          s.best_pos = static_cast<std::uint32_t>(p);
          atomic_min(*s.comp_bound, w);
        }
      }
      return;
    }
    double bl = node_bound(s, nd.left), br = node_bound(s, nd.right);
    std::uint32_t first = nd.left, second = nd.right;
    if (br < bl || (br == bl && node_min_id_[nd.right] < node_min_id_[nd.left])) {
      std::swap(first, second);
      std::swap(bl, br);
    }
    if (bl != static_cast<double>(kInf)) search(first, s);
    if (br == static_cast<double>(kInf)) return;
    // The bound may have dropped while searching the nearer child.
    br = node_bound(s, second);
    if (br != static_cast<double>(kInf)) search(second, s);
  }

  std::vector<mst_edge> boruvka(exact_tree_counters& c, progress_ticker* tick) {
    // Per-node smallest core distance and smallest id (fixed), component (per round).
    node_min_core_.assign(nodes_.size(), kInf);
    node_min_id_.assign(nodes_.size(), kNone);
    for (std::size_t i = nodes_.size(); i-- > 0;) {
      const node& nd = nodes_[i];
      if (nd.left == kNone) {
        for (std::size_t p = nd.begin; p < nd.end; ++p)
          node_min_core_[i] = std::min(node_min_core_[i], core_[p]),
          node_min_id_[i] = std::min(node_min_id_[i], perm_[p]);
      } else {
        node_min_core_[i] = std::min(node_min_core_[nd.left], node_min_core_[nd.right]);
        node_min_id_[i] = std::min(node_min_id_[nd.left], node_min_id_[nd.right]);
      }
    }
    node_comp_.assign(nodes_.size(), kNone);
    comp_.resize(n_);
    union_find uf(n_);                               // over positions
    std::vector<edge_key> best(n_);                  // exact best outgoing edge of an item, when known
    std::vector<std::uint32_t> best_pos(n_, kNone);  // its other end (kNone: not known)
    std::vector<float> lower(n_, 0.0f);              // lower bound of the item's best weight
    std::vector<std::atomic<float>> comp_bound(n_);
    std::vector<edge_key> comp_best(n_);
    std::vector<std::uint32_t> comp_pos_a(n_), comp_pos_b(n_);
    std::vector<mst_edge> edges;
    edges.reserve(n_ - 1);
    std::size_t components = n_;
    std::atomic<std::uint64_t> pairs{0};
    while (components > 1) {
      ++c.rounds;
      if (tick) (*tick)(n_ - components);
      for (std::size_t p = 0; p < n_; ++p) comp_[p] = uf.find(static_cast<std::uint32_t>(p));
      for (std::size_t i = nodes_.size(); i-- > 0;) {
        const node& nd = nodes_[i];
        if (nd.left == kNone) {
          std::uint32_t cc = comp_[nd.begin];
          for (std::size_t p = nd.begin + 1; p < nd.end && cc != kNone; ++p)
            if (comp_[p] != cc) cc = kNone;
          node_comp_[i] = cc;
        } else {
          node_comp_[i] = node_comp_[nd.left] == node_comp_[nd.right] ? node_comp_[nd.left] : kNone;
        }
      }
      // An item whose known best edge still leaves its (grown) component keeps
      // it: the edges leaving a component only become fewer.
      for (std::size_t p = 0; p < n_; ++p) comp_bound[p].store(kInf, std::memory_order_relaxed);
      for (std::size_t p = 0; p < n_; ++p) {
        if (best_pos[p] == kNone) continue;
        if (comp_[best_pos[p]] == comp_[p]) {
          best_pos[p] = kNone;
        } else if (best[p].w < comp_bound[comp_[p]].load(std::memory_order_relaxed)) {
          comp_bound[comp_[p]].store(best[p].w, std::memory_order_relaxed);
        }
      }
      const std::size_t blocks = (n_ + kBlock - 1) / kBlock;
      // Progress (and the chance to cancel) during a round, not only between rounds.
      progress_ticker round_tick([&](std::size_t) {
        if (tick) (*tick)(n_ - components, true);
      });
      parallel_for(
          blocks,
          [&](std::size_t b) {
            std::uint64_t measured = 0;
            for (std::size_t q = b * kBlock, qe = std::min(n_, q + kBlock); q < qe; ++q) {
              if (best_pos[q] != kNone) continue;
              std::atomic<float>& cb = comp_bound[comp_[q]];
              // Every edge of q weighs at least lower[q]: skip q when its
              // component already has a lighter one.
              if (lower[q] > cb.load(std::memory_order_relaxed)) continue;
              search_state s{q, perm_[q], comp_[q], core_[q], edge_key{}, kNone, &cb, 0};
              if (node_bound(s, 0) != static_cast<double>(kInf)) search(0, s);
              measured += s.measured;
              // Every edge of q not seen weighs more than the bound it was pruned
              // by, which is >= the final component bound.
              const float end_bound = cb.load(std::memory_order_relaxed);
              lower[q] = std::max(lower[q], std::min(s.best.w, end_bound));
              if (s.best_pos != kNone && s.best.w <= end_bound) best[q] = s.best, best_pos[q] = s.best_pos;
            }
            pairs.fetch_add(measured, std::memory_order_relaxed);
          },
          tick ? &round_tick : nullptr);
      // Each component's lightest outgoing edge under the strict order.
      for (std::size_t p = 0; p < n_; ++p) comp_best[comp_[p]] = edge_key{};
      for (std::size_t p = 0; p < n_; ++p) {
        if (best_pos[p] == kNone) continue;
        const std::uint32_t cc = comp_[p];
        if (best[p] < comp_best[cc])
          comp_best[cc] = best[p], comp_pos_a[cc] = static_cast<std::uint32_t>(p),
          comp_pos_b[cc] = best_pos[p];
      }
      std::size_t joined = 0;
      for (std::size_t p = 0; p < n_; ++p) {
        if (comp_[p] != p || comp_best[p].lo == kNone) continue;
        if (!uf.unite(comp_pos_a[p], comp_pos_b[p])) continue;  // chosen by both sides
        edges.push_back({comp_best[p].lo, comp_best[p].hi, static_cast<double>(comp_best[p].w)});
        ++joined;
      }
      if (joined == 0) {
        // Unreachable for finite distances; never loop: join the rest at infinity.
        for (std::size_t p = 1; p < n_; ++p)
          if (uf.unite(0, static_cast<std::uint32_t>(p)))
            edges.push_back({0, perm_[p], std::numeric_limits<double>::infinity()}), ++joined;
      }
      components -= joined;
    }
    if (tick) (*tick)(n_, true);
    c.mst_pairs += pairs.load();
    std::sort(edges.begin(), edges.end(), [](const mst_edge& x, const mst_edge& y) {
      if (x.distance != y.distance) return x.distance < y.distance;
      if (x.a != y.a) return x.a < y.a;
      return x.b < y.b;
    });
    return edges;
  }

  float_rows rows_;
  dense_distance_fn<M> dist_;
  std::size_t n_, d_, k_;
  double shrink_ = 1.0, grow_ = 1.0;
  std::vector<std::uint32_t> perm_;  // position -> item id
  std::vector<float> pts_;           // n x d, in tree order
  std::vector<node> nodes_;
  std::vector<float> lo_, hi_;  // node boxes, nodes x d
  std::vector<float> core_;     // by position
  std::vector<float> node_min_core_;
  std::vector<std::uint32_t> node_min_id_, node_comp_;
  std::vector<std::uint32_t> comp_;  // by position: the union-find root (a position)
};

}  // namespace

spanning_tree exact_tree_spanning_tree(const data_source& data, std::size_t min_samples,
                                       exact_tree_counters& counters, progress_ticker* core_tick,
                                       progress_ticker* mst_tick) {
  const auto& src = static_cast<const dense_source&>(data);
  if (src.metric() == dense_metric::manhattan)
    return kd_exact<dense_metric::manhattan>(src, min_samples).run(counters, core_tick, mst_tick);
  return kd_exact<dense_metric::euclidean>(src, min_samples).run(counters, core_tick, mst_tick);
}

}  // namespace chutoro::detail
