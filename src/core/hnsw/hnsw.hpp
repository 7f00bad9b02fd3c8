// chutoro — HNSW graph construction (Malkov & Yashunin 2018, "Efficient and
// robust approximate nearest neighbor search using Hierarchical Navigable
// Small World graphs", Algorithms 1, 2 and 4) with FISHDBC's harvest
// (Dell'Amico 2019, section 3): every distance the build computes feeds the
// core-distance estimates, and the pairs each insertion ends up with become
// candidate edges (see worker), recorded in the computing worker's buffers.
//
// Items are addressed by id only; the distance is a callable the class is
// templated on, so built-in metrics inline. Layer 0 keeps m0 = 2m links, upper
// layers m; levels are drawn as floor(-ln(U) / ln(m)) from a hash of (seed, id).
//
// Parallel, deterministic insertion in batches (docs/algorithm.md):
//  1. every item of the batch, in parallel, searches the graph as it was
//     before the batch (read only), adds its earlier batch-mates to its
//     candidates, selects its neighbours and writes its own lists;
//  2. the reverse links are grouped by target node and applied in batch
//     order, in parallel over target nodes (pruning full lists);
//  3. the entry point is updated in batch order.
// No locks: phase 1 only reads shared lists, phase 2 gives each list to one
// thread. One OpenMP parallel region serves all the batches of a build
// (insert_team); its threads meet at a team_barrier (team.hpp) whose spin is
// bounded by the library, so a busy core does not stall the build. The graph, and so the harvested multiset
// of edges, depends only on the seed and the batch schedule, never on the thread count or timing.
#pragma once

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "core/hnsw/team.hpp"
#include "core/mst/candidate_graph.hpp"

namespace chutoro::detail {

/// The HNSW graph's storage, independent of the distance: what a model file
/// holds and what grows when items are added. Layer-0 lists are n blocks of
/// (1 + m0) ids (count, links); an item of level L > 0 owns L blocks of
/// (1 + m) ids in `upper`, starting at block upper_block[i]. Levels are drawn
/// per item from (seed, id) alone, so growing the graph never changes the
/// levels of items already in it.
struct hnsw_graph {
  using id_t = std::uint32_t;
  std::size_t m = 16, m0 = 32, ef_construction = 100;
  std::uint64_t seed = 42;
  std::vector<std::uint8_t> level;         // n
  std::vector<id_t> links0;                // n x (1 + m0)
  std::vector<std::uint32_t> upper_block;  // n: first block of the item's upper lists
  std::vector<id_t> upper;                 // blocks of (1 + m)
  id_t entry = 0;
  int max_level = 0;
  std::size_t inserted = 0;  // items in the graph (the others are allocated, not linked)

  hnsw_graph() = default;
  hnsw_graph(std::size_t m_, std::size_t ef, std::uint64_t seed_)
      : m(m_), m0(2 * m_), ef_construction(std::max<std::size_t>(ef, 1)), seed(seed_) {}

  [[nodiscard]] std::size_t size() const noexcept { return level.size(); }

  /// Level of item i: floor(-ln(U) / ln(m)), U in (0, 1] from 53 bits of
  /// splitmix64(seed, i), capped at 60.
  [[nodiscard]] std::uint8_t draw_level(std::size_t i) const noexcept {
    std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (static_cast<std::uint64_t>(i) + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const double u = (static_cast<double>(z >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    const double mult = 1.0 / std::log(static_cast<double>(std::max<std::size_t>(m, 2)));
    return static_cast<std::uint8_t>(std::min(static_cast<int>(std::floor(-std::log(u) * mult)), 60));
  }

  /// Allocates (empty) lists for items size()..n-1. Existing lists are kept.
  void grow(std::size_t n) {
    const std::size_t old = size();
    if (n <= old) return;
    level.resize(n);
    upper_block.resize(n);
    links0.resize(n * (m0 + 1), 0);
    std::size_t blocks = upper.size() / (m + 1);
    for (std::size_t i = old; i < n; ++i) {
      level[i] = draw_level(i);
      upper_block[i] = static_cast<std::uint32_t>(blocks);
      blocks += level[i];
    }
    upper.resize(blocks * (m + 1), 0);
  }

  id_t* links(id_t x, int l) noexcept {
    return l == 0 ? &links0[static_cast<std::size_t>(x) * (m0 + 1)]
                  : &upper[(static_cast<std::size_t>(upper_block[x]) + static_cast<std::size_t>(l - 1)) *
                           (m + 1)];
  }
  const id_t* links(id_t x, int l) const noexcept { return const_cast<hnsw_graph*>(this)->links(x, l); }
};

/// Size of the next insertion batch (docs/algorithm.md): a quarter of the
/// items already in the graph, at least 1, at most batch_size and the items
/// left. It depends on neither the thread count nor timing, so the graph does not.
inline std::size_t next_batch(std::size_t inserted, std::size_t batch_size, std::size_t left) noexcept {
  return std::min({std::max<std::size_t>(inserted / 4, 1), batch_size, left});
}

/// The HNSW algorithms over an hnsw_graph. Distance: float(std::uint32_t a,
/// std::uint32_t b) const, thread safe.
template <class Distance>
class hnsw_index {
 public:
  using id_t = std::uint32_t;
  struct scored {
    float d;
    id_t id;
    bool operator<(const scored& o) const noexcept { return d < o.d || (d == o.d && id < o.id); }
    bool operator>(const scored& o) const noexcept { return o < *this; }
  };

  /// Per-thread scratch state and harvest buffers (docs/algorithm.md,
  /// "Candidate edges"):
  ///  - `edges`: candidate edges, each also offered to both items' k-nearest
  ///    lists: per insertion (or search) the pairs (q, x) for the items x it
  ///    ends with on each layer (its ef nearest found, batch-mates included),
  ///    and the pairs the neighbour-selection heuristic compares, except
  ///    those the triangle rule leaves out (select_harvest);
  ///  - `offers`: (x, q, d) for every other computed distance that can still
  ///    enter x's k-nearest list (d not above x's current core distance
  ///    estimate, see set_core_estimates), offered to x only; a pair left out
  ///    by the triangle rule is offered to both items.
  /// Distances recomputed for pairs already linked (when a full list is
  /// pruned) are counted but not harvested again.
  /// Aligned to two cache lines: workers sit side by side in one vector, and
  /// one thread's epochs (read at every visit) must not share a line with
  /// another's buffer ends (written at every harvest).
  class alignas(128) worker {
   public:
    explicit worker(std::size_t n) : visit_(n) {}
    std::vector<raw_edge> edges;
    std::vector<raw_edge> offers;
    std::uint64_t computed = 0;

   private:
    friend class hnsw_index;
    // Per item: the layer search that last visited it (2 bytes, as small as
    // possible: this array is read at random at every visit).
    std::vector<std::uint16_t> visit_;
    std::vector<scored> cand_, found_;  // search_layer's heaps, kept for their capacity
    std::vector<id_t> ids_;             // dq_many's batch, kept for its capacity
    std::vector<float> ds_;
    std::uint16_t epoch_ = 0;
    id_t q_ = 0;
  };

  /// Works on `graph` (which must outlive the index); items 0..graph.size()-1.
  hnsw_index(hnsw_graph& graph, Distance dist)
      : g_(graph), m_(graph.m), m0_(graph.m0), ef_(graph.ef_construction), dist_(std::move(dist)) {}

  /// Core distance estimates (one per item, +inf while unknown) of the
  /// candidate graph whose k-nearest lists hold k other items. They filter
  /// the offers (a distance above x's estimate cannot enter x's list) and let
  /// an insertion leave out the candidate edges that are the heaviest of a
  /// harvested triangle (see select_harvest). Must not change during
  /// insert_batch/search (the candidate graph updates them between batches).
  /// Empty (the default): every distance is offered and every pair an
  /// insertion ends with is an edge.
  void set_core_estimates(std::span<const float> core, std::size_t k) noexcept { core_ = core, core_k_ = k; }

  /// Inserts `batch` (ids not yet inserted, distinct) as one batch, using up
  /// to workers.size() OpenMP threads; worker t serves thread t.
  void insert_batch(std::span<const id_t> batch, std::span<worker> workers) {
    insert_team(
        batch, [&](std::size_t, std::size_t left) { return left; }, workers, [](int, int) {},
        [](std::size_t) { return true; }, [](std::size_t) {});
  }

  /// Inserts `order` (ids not yet inserted, distinct) in consecutive batches
  /// of batch_of(inserted, left) items (inserted: items in the graph, left:
  /// items of `order` not inserted yet) inside one OpenMP parallel region of
  /// up to workers.size() threads (worker t serves team thread t). After
  /// each batch, every team thread t of `threads` runs after_part(t, threads)
  /// (the harvest's parallel part), then one thread runs after_batch(done),
  /// done = items of `order` inserted; it returns false to leave the region
  /// early (e.g. for a compaction that wants all threads). on_caller(done)
  /// runs on the calling thread (team thread 0) after each batch (progress).
  /// Returns `done`. The threads meet at a team_barrier three times per
  /// batch (after the searches, after the reverse links, after after_part),
  /// which spins at most a few microseconds before it sleeps, so a thread
  /// that waits does not keep a late one off a shared core. The graph does
  /// not depend on the thread count or timing. The first exception thrown by
  /// any part stops the work at the end of its batch and is rethrown here.
  template <class BatchOf, class AfterPart, class AfterBatch, class OnCaller>
  std::size_t insert_team(std::span<const id_t> order, BatchOf&& batch_of, std::span<worker> workers,
                          AfterPart&& after_part, AfterBatch&& after_batch, OnCaller&& on_caller) {
    batch_job job;
    team_barrier barrier;
    std::size_t done = 0;
    bool stop = false;  // written by barrier completions only, read after them
    std::atomic<bool> failed{false};
    std::exception_ptr failure;
    auto guard = [&](auto&& f) noexcept {
      try {
        f();
      } catch (...) {
#pragma omp critical(chutoro_hnsw_failure)
        if (!failure) failure = std::current_exception();
        failed.store(true, std::memory_order_relaxed);
      }
    };
    auto start_next = [&] {
      if (failed.load(std::memory_order_relaxed) || done == order.size()) {
        stop = true;
        return;
      }
      guard([&] { begin_batch(job, order.subspan(done, batch_of(g_.inserted, order.size() - done))); });
      if (failed.load(std::memory_order_relaxed)) stop = true;
    };
    start_next();
    const int threads = static_cast<int>(std::max<std::size_t>(workers.size(), 1));
    if (!stop) {
#pragma omp parallel num_threads(threads) if (threads > 1)
      {
#pragma omp single
        barrier.reset(omp_get_num_threads());
        const int t = omp_get_thread_num();
        worker& w = workers[static_cast<std::size_t>(t)];
        for (;;) {
          guard([&] { plan_part(job, w, failed); });
          barrier.arrive_and_wait([&] { guard([&] { group_links(job); }); });
          guard([&] { link_part(job, w, failed); });
          barrier.arrive_and_wait([&] {
            guard([&] { end_batch(job); });
            done += job.items.size() + job.first;
          });
          guard([&] { after_part(t, barrier.size()); });
          barrier.arrive_and_wait([&] {
            bool more = true;
            guard([&] { more = after_batch(done); });
            if (more)
              start_next();
            else
              stop = true;
          });
          if (stop) break;
          if (t == 0) guard([&] { on_caller(done); });
        }
      }
    }
    if (failure) std::rethrow_exception(failure);
    return done;
  }

  /// k approximate nearest neighbours of item q (q excluded), ascending. q
  /// may be any id the distance understands (also one outside the graph, for
  /// queries). Harvests what it computes into w. Concurrent searches with
  /// distinct workers are safe; not concurrent with insert_batch.
  std::vector<scored> search(id_t q, std::size_t k, std::size_t ef, worker& w) {
    if (g_.inserted == 0) return {};
    begin_query(q, w);
    id_t ep = g_.entry;
    float ep_d = dq(ep, w);
    for (int l = g_.max_level; l > 0; --l) greedy(ep, ep_d, l, w);
    std::vector<scored> found = search_layer({{ep_d, ep}}, std::max(ef, k + 1), 0, w);
    std::erase_if(found, [q](const scored& s) { return s.id == q; });
    for (const scored& s : found) w.edges.push_back({q, s.id, s.d});
    if (found.size() > k) found.resize(k);
    return found;
  }

  [[nodiscard]] std::size_t inserted() const noexcept { return g_.inserted; }

 private:
  struct link_request {
    id_t target, source;
    float d;
    int layer;
  };

  // One batch on its way into the graph (insert_team's phases).
  struct batch_job {
    std::span<const id_t> items;  // the batch, less the first item of an empty graph
    std::size_t first = 0;        // 1 if the batch's first item became the entry point
    std::vector<std::vector<link_request>> requests;
    std::vector<link_request> all;
    std::vector<std::size_t> group_start;
    std::atomic<std::size_t> next{0};  // next item (phase 1) or group (phase 2) to take
  };

  // Serial: the first item of an empty graph becomes the entry point.
  void begin_batch(batch_job& job, std::span<const id_t> batch) {
    job.first = 0;
    if (g_.inserted == 0 && !batch.empty()) {
      g_.entry = batch[0];
      g_.max_level = g_.level[batch[0]];
      g_.inserted = 1;
      job.first = 1;
    }
    job.items = batch.subspan(job.first);
    job.requests.resize(job.items.size());
    job.next.store(0, std::memory_order_relaxed);
  }

  // Phase 1, on every team thread: searches against the graph as it was
  // before the batch, items taken one at a time.
  void plan_part(batch_job& job, worker& w, const std::atomic<bool>& failed) {
    for (std::size_t i; (i = job.next.fetch_add(1, std::memory_order_relaxed)) < job.items.size();) {
      if (failed.load(std::memory_order_relaxed)) return;
      job.requests[i] = plan_links(job.items, i, w);
    }
  }

  // Serial: reverse links grouped by (target, layer), in batch order.
  void group_links(batch_job& job) {
    job.all.clear();
    for (auto& r : job.requests) job.all.insert(job.all.end(), r.begin(), r.end());
    std::stable_sort(job.all.begin(), job.all.end(), [](const link_request& x, const link_request& y) {
      return x.target != y.target ? x.target < y.target : x.layer < y.layer;
    });
    job.group_start.clear();
    for (std::size_t r = 0; r < job.all.size(); ++r)
      if (r == 0 || job.all[r].target != job.all[r - 1].target || job.all[r].layer != job.all[r - 1].layer)
        job.group_start.push_back(r);
    job.group_start.push_back(job.all.size());
    job.next.store(0, std::memory_order_relaxed);
  }

  // Phase 2, on every team thread: each (target, layer) list to one thread.
  void link_part(batch_job& job, worker& w, const std::atomic<bool>& failed) {
    const std::size_t groups = job.group_start.size() - 1;
    for (std::size_t g; (g = job.next.fetch_add(1, std::memory_order_relaxed)) < groups;) {
      if (failed.load(std::memory_order_relaxed)) return;
      for (std::size_t r = job.group_start[g]; r < job.group_start[g + 1]; ++r)
        connect(job.all[r].target, job.all[r].source, job.all[r].d, job.all[r].layer, w);
    }
  }

  // Phase 3, serial: entry point, in batch order.
  void end_batch(batch_job& job) {
    for (id_t q : job.items)
      if (g_.level[q] > g_.max_level) g_.max_level = g_.level[q], g_.entry = q;
    g_.inserted += job.items.size();
    for (auto& r : job.requests) r.clear();
  }

  id_t* links(id_t x, int l) noexcept { return g_.links(x, l); }

  void begin_query(id_t q, worker& w) { w.q_ = q; }

  // Starts a layer search: nothing visited yet.
  static void new_visit(worker& w) {
    if (++w.epoch_ == 0) {
      std::fill(w.visit_.begin(), w.visit_.end(), std::uint16_t{0});
      w.epoch_ = 1;
    }
  }

  // Marks x visited in the current layer search; false if it already was.
  static bool first_visit(id_t x, worker& w) {
    if (w.visit_[x] == w.epoch_) return false;
    w.visit_[x] = w.epoch_;
    return true;
  }

  float raw(id_t a, id_t b, worker& w) const {
    ++w.computed;
    return dist_(a, b);
  }

  // Distance from the worker's query to x, harvested. Not cached across
  // layers: an item met on an upper layer and again on a lower one is
  // measured again (a few per insertion), which keeps the per-visit state small.
  float dq(id_t x, worker& w) const {
    if (x == w.q_) return 0.0f;  // search() from an inserted item meets itself: not a pair
    const float d = raw(w.q_, x, w);
    offer(x, w.q_, d, w);
    return d;
  }

  // Whether the distance measures one query against many items in one call:
  // batch(q, xs, out) sets out[k] = d(q, xs[k]) bit for bit as operator()
  // would (distance_dispatch.hpp: the blocked dense kernels, and
  // data_source::distance_batch for sources outside chutoro).
  static constexpr bool kBatched = requires(const Distance& f, id_t q, std::span<const id_t> xs, float* out) {
    f.batch(q, xs, out);
  };

  // out[k] = dq(xs[k], w) for k < n, harvested in the same order as n calls
  // of dq would (the same offers, counts and values): one batch call for the
  // distance when the callable has one (kBatched), else one call per item.
  void dq_many(const id_t* xs, std::size_t n, float* out, worker& w) const {
    if constexpr (kBatched) {
      w.ids_.clear();
      for (std::size_t k = 0; k < n; ++k)
        if (xs[k] != w.q_) w.ids_.push_back(xs[k]);
      if (w.ids_.empty()) {
        std::fill(out, out + n, 0.0f);
        return;
      }
      w.ds_.resize(w.ids_.size());
      dist_.batch(w.q_, std::span<const id_t>(w.ids_), w.ds_.data());
      w.computed += w.ids_.size();
      for (std::size_t k = 0, r = 0; k < n; ++k) {
        if (xs[k] == w.q_) {
          out[k] = 0.0f;
          continue;
        }
        out[k] = w.ds_[r++];
        offer(xs[k], w.q_, out[k], w);
      }
    } else {
      for (std::size_t k = 0; k < n; ++k) out[k] = dq(xs[k], w);
    }
  }

  // out[k] = raw(a, xs[k], w) for k < n (xs must not hold a), in one batch
  // call where the distance has one; not harvested.
  void raw_many(id_t a, const id_t* xs, std::size_t n, float* out, worker& w) const {
    if constexpr (kBatched) {
      if (n == 0) return;
      dist_.batch(a, std::span<const id_t>(xs, n), out);
      w.computed += n;
    } else {
      for (std::size_t k = 0; k < n; ++k) out[k] = raw(a, xs[k], w);
    }
  }

  // Queues d(x, y) for x's k-nearest list unless it cannot enter it.
  void offer(id_t x, id_t y, float d, worker& w) const {
    if (core_.empty() || !(d > core_[x])) w.offers.push_back({x, y, d});
  }

  void greedy(id_t& ep, float& ep_d, int l, worker& w) {
    new_visit(w);
    first_visit(ep, w);
    for (bool changed = true; changed;) {
      changed = false;
      const id_t* lk = links(ep, l);
      id_t fresh[kMaxLinks];
      float d[kMaxLinks];
      id_t n_fresh = 0;
      for (id_t k = 0; k < lk[0]; ++k)
        if (first_visit(lk[1 + k], w)) fresh[n_fresh++] = lk[1 + k];  // else measured on this layer already
      dq_many(fresh, n_fresh, d, w);
      for (id_t k = 0; k < n_fresh; ++k)
        if (d[k] < ep_d) ep_d = d[k], ep = fresh[k], changed = true;
    }
  }

  // Algorithm 2: beam search on layer l from the entry points; result ascending.
  std::vector<scored> search_layer(const std::vector<scored>& eps, std::size_t ef, int l, worker& w) {
    new_visit(w);
    // Binary heaps in the worker's reusable storage: cand nearest first,
    // found farthest first.
    std::vector<scored>& cand = w.cand_;
    std::vector<scored>& found = w.found_;
    cand.clear();
    found.clear();
    auto push_found = [&](const scored& s) {
      found.push_back(s);
      std::push_heap(found.begin(), found.end());
      if (found.size() > ef) std::pop_heap(found.begin(), found.end()), found.pop_back();
    };
    for (const scored& e : eps) {
      first_visit(e.id, w);
      cand.push_back(e);
      std::push_heap(cand.begin(), cand.end(), std::greater<>());
      push_found(e);
    }
    while (!cand.empty()) {
      const scored c = cand.front();
      // Stop at the first candidate no closer than the worst kept one; with
      // integer distances (levenshtein) this avoids walking whole plateaus of ties.
      if (found.size() >= ef && c.d >= found.front().d) break;
      std::pop_heap(cand.begin(), cand.end(), std::greater<>());
      cand.pop_back();
      const id_t* lk = links(c.id, l);
      // The neighbours' visit marks are loaded together (their misses overlap),
      // then the unvisited ones' items are prefetched and measured: the loop is
      // otherwise bound by memory latency on large inputs.
      for (id_t k = 0; k < lk[0]; ++k) __builtin_prefetch(&w.visit_[lk[1 + k]]);
      id_t fresh[kMaxLinks];
      id_t n_fresh = 0;
      for (id_t k = 0; k < lk[0]; ++k) {
        const id_t x = lk[1 + k];
        if (!first_visit(x, w)) continue;
        fresh[n_fresh++] = x;
        if constexpr (requires { dist_.prefetch(x); }) dist_.prefetch(x);
        if (!core_.empty()) __builtin_prefetch(&core_[x]);  // read by offer() after the distance
      }
      // One query against the n_fresh items: one batch call where the distance has one.
      float dist[kMaxLinks];
      dq_many(fresh, n_fresh, dist, w);
      for (id_t k = 0; k < n_fresh; ++k) {
        const id_t x = fresh[k];
        const float d = dist[k];
        if (found.size() < ef || d < found.front().d) {
          cand.push_back({d, x});
          std::push_heap(cand.begin(), cand.end(), std::greater<>());
          __builtin_prefetch(links(x, l));  // read when x is expanded
          push_found({d, x});
        }
      }
    }
    std::sort_heap(found.begin(), found.end());  // ascending
    return found;
  }

  // Offers d(x, y) to both items' k-nearest lists without making it an edge.
  void offer_both(id_t x, id_t y, float d, worker& w) const {
    offer(x, y, d, w);
    offer(y, x, d, w);
  }

  // Algorithm 4 (keepPrunedConnections = false): a candidate is kept when it
  // is closer to the base than to every already kept neighbour (ties drop it).
  // `cand` is ascending by distance to the base. Compared pairs are offers
  // (used when a full list is pruned: its pairs were harvested before).
  std::vector<scored> select_heuristic(const std::vector<scored>& cand, std::size_t m, worker& w) const {
    if (cand.size() <= m) return cand;
    std::vector<scored> sel;
    sel.reserve(m);
    for (const scored& c : cand) {
      if (sel.size() >= m) break;
      bool good = true;
      for (const scored& s : sel) {
        const float d = raw(c.id, s.id, w);
        offer_both(c.id, s.id, d, w);
        if (d <= c.d) {
          good = false;
          break;
        }
      }
      if (good) sel.push_back(c);
    }
    return sel;
  }

  // Algorithm 4 for the inserted item q, harvesting (docs/algorithm.md,
  // "Candidate edges"): every pair it knows — (q, c) for each candidate c,
  // (c, s) for each pair the heuristic compares — is offered to both k-nearest
  // lists, and is a candidate edge unless a triangle of harvested edges shows
  // the spanning tree never needs it. Mutual reachability weights are
  // w(x, y) = max(core(x), core(y), d(x, y)); an edge strictly heavier than
  // the two others of a triangle of kept edges is in no minimum spanning tree
  // (cycle property), whatever the tie order. Core distances only decrease
  // below the estimates used here (core(q) is at most the k-th smallest
  // d(q, c), all of which reach q's list), so each test stays true:
  //  - s (kept, d(q, s) < d(q, c)) rejects c by d(c, s) < d(q, c): (c, s) is
  //    an edge, and (q, c) is left out when the core distances of q, c and s
  //    are all below d(q, c): then w(q, c) = d(q, c) > w(q, s), w(c, s);
  //  - s does not reject c (d(c, s) > d(q, c) >= d(q, s)): (c, s) is left
  //    out when the core distances of q, c and s are all below d(c, s).
  // Ties keep the edge. Without core estimates (set_core_estimates not
  // called) every pair is an edge.
  std::vector<scored> select_harvest(id_t q, const std::vector<scored>& cand, std::size_t m,
                                     worker& w) const {
    constexpr float inf = std::numeric_limits<float>::infinity();
    float core_q = inf;
    if (!core_.empty()) core_q = core_k_ == 0 ? 0.0f : cand.size() >= core_k_ ? cand[core_k_ - 1].d : inf;
    auto below = [&](id_t x, float d) { return !core_.empty() && core_[x] < d; };
    std::vector<scored> sel;
    sel.reserve(std::min(m, cand.size()));
    for (const scored& c : cand) {
      if (sel.size() >= m || cand.size() <= m) {  // not compared: selected, or left after the list filled
        if (sel.size() < m) sel.push_back(c);
        w.edges.push_back({q, c.id, c.d});
        continue;
      }
      bool good = true;
      for (const scored& s : sel) {
        const float d = raw(c.id, s.id, w);
        if (d <= c.d) {  // s rejects c
          w.edges.push_back({c.id, s.id, d});
          if (d < c.d && s.d < c.d && core_q < c.d && below(c.id, c.d) && below(s.id, c.d))
            offer_both(q, c.id, c.d, w);
          else
            w.edges.push_back({q, c.id, c.d});
          good = false;
          break;
        }
        if (core_q < d && below(c.id, d) && below(s.id, d))
          offer_both(c.id, s.id, d, w);
        else
          w.edges.push_back({c.id, s.id, d});
      }
      if (good) sel.push_back(c), w.edges.push_back({q, c.id, c.d});
    }
    return sel;
  }

  // Phase 1 for items[i]: search, add earlier batch-mates, select, write own lists.
  std::vector<link_request> plan_links(std::span<const id_t> items, std::size_t i, worker& w) {
    const id_t q = items[i];
    const int lq = g_.level[q];
    begin_query(q, w);
    std::vector<link_request> out;
    id_t ep = g_.entry;
    float ep_d = dq(ep, w);
    for (int l = g_.max_level; l > lq; --l) greedy(ep, ep_d, l, w);
    std::vector<scored> eps{{ep_d, ep}};
    for (int l = lq; l >= 0; --l) {
      std::vector<scored> found;
      if (l <= g_.max_level) {
        found = search_layer(eps, ef_, l, w);
        eps = found;  // batch-mates are not searched through: their lists are being written
      }
      // The earlier batch-mates on this layer, measured as one batch.
      std::vector<id_t> mates;
      for (std::size_t j = 0; j < i; ++j)
        if (g_.level[items[j]] >= l) mates.push_back(items[j]);
      std::vector<float> mate_d(mates.size());
      dq_many(mates.data(), mates.size(), mate_d.data(), w);
      for (std::size_t j = 0; j < mates.size(); ++j) found.push_back({mate_d[j], mates[j]});
      std::sort(found.begin(), found.end());
      const std::vector<scored> sel = select_harvest(q, found, l == 0 ? m0_ : m_, w);
      id_t* own = links(q, l);
      own[0] = static_cast<id_t>(sel.size());
      for (std::size_t k = 0; k < sel.size(); ++k) {
        own[1 + k] = sel[k].id;
        out.push_back({sel[k].id, q, sel[k].d, l});
      }
    }
    return out;
  }

  // Adds the link e -> q on layer l, pruning e's list with the heuristic when full.
  void connect(id_t e, id_t q, float d_eq, int l, worker& w) {
    id_t* lk = links(e, l);
    const std::size_t cap = l == 0 ? m0_ : m_;
    if (lk[0] < cap) {
      lk[1 + lk[0]] = q;
      ++lk[0];
      return;
    }
    std::vector<scored> cand;
    cand.reserve(cap + 1);
    cand.push_back({d_eq, q});
    float d[kMaxLinks];
    raw_many(e, lk + 1, lk[0], d, w);  // e against its whole list: one batch
    for (id_t k = 0; k < lk[0]; ++k) cand.push_back({d[k], lk[1 + k]});
    std::sort(cand.begin(), cand.end());
    const std::vector<scored> sel = select_heuristic(cand, cap, w);
    lk[0] = static_cast<id_t>(sel.size());
    for (std::size_t k = 0; k < sel.size(); ++k) lk[1 + k] = sel[k].id;
  }

  static constexpr std::size_t kMaxLinks = 2048;  // 2m for m <= 1024 (validate() caps m)
  hnsw_graph& g_;
  std::size_t m_, m0_, ef_;
  Distance dist_;
  std::span<const float> core_;
  std::size_t core_k_ = 0;
};

}  // namespace chutoro::detail
