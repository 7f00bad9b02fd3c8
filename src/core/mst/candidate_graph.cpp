#include "core/mst/candidate_graph.hpp"

#include <omp.h>

#include <algorithm>
#include <iterator>
#include <limits>
#include <span>
#include <tuple>
#include <utility>

#include "core/mst/union_find.hpp"

namespace chutoro::detail {

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();

struct weighted {
  float w;
  std::uint32_t a, b;
  float d;
};
}  // namespace

candidate_graph::candidate_graph(std::size_t n, std::size_t min_samples, std::size_t compaction_factor,
                                 std::size_t compaction_min_edges,
                                 std::shared_ptr<const forest_solver> solver)
    : n_(n),
      k_(min_samples > 0 ? min_samples - 1 : 0),
      factor_(compaction_factor),
      min_edges_(compaction_min_edges),
      threshold_(compaction_min_edges),
      knn_d_(n * k_),
      knn_id_(n * k_),
      count_(n, 0),
      core_(n, k_ == 0 ? 0.0f : kInf),
      changed_(n, 0),
      solver_(solver ? std::move(solver) : cpu_forest_solver()) {}

void candidate_graph::set_solver(std::shared_ptr<const forest_solver> solver) {
  solver_ = solver ? std::move(solver) : cpu_forest_solver();
}

void candidate_graph::absorb(std::span<const std::span<const raw_edge>> edges,
                             std::span<const std::span<const raw_edge>> offers) {
  std::size_t total = 0;
  for (const auto& part : edges) total += 2 * part.size();
  for (const auto& part : offers) total += part.size();
  if (total == 0) return;
  const bool parallel = total >= 4096;
#pragma omp parallel if (parallel)
  absorb_part(edges, offers, static_cast<std::uint32_t>(omp_get_thread_num()),
              static_cast<std::uint32_t>(omp_get_num_threads()));
  if (buffer(edges)) compact();
}

void candidate_graph::absorb_part(std::span<const std::span<const raw_edge>> edges,
                                  std::span<const std::span<const raw_edge>> offers, std::uint32_t t,
                                  std::uint32_t threads) noexcept {
  for (const auto& part : edges)
    for (const raw_edge& e : part) {
      if (e.a % threads == t) offer(e.a, e.b, e.d);
      if (e.b % threads == t) offer(e.b, e.a, e.d);
    }
  for (const auto& part : offers)
    for (const raw_edge& e : part)
      if (e.a % threads == t) offer(e.a, e.b, e.d);
}

bool candidate_graph::buffer(std::span<const std::span<const raw_edge>> edges) {
  std::size_t incoming = 0;
  for (const auto& part : edges) incoming += part.size();
  if (buffer_.size() + incoming > buffer_.capacity())
    buffer_.reserve(std::max(buffer_.size() + incoming, threshold_ + threshold_ / 8));
  for (const auto& part : edges) buffer_.insert(buffer_.end(), part.begin(), part.end());
  return buffer_.size() >= threshold_;
}

void candidate_graph::set_items_seen(std::size_t seen) noexcept {
  threshold_ = std::max(min_edges_, factor_ * seen);
}

void candidate_graph::offer(std::uint32_t i, std::uint32_t j, float d) noexcept {
  if (k_ == 0 || d > core_[i]) return;  // core_ is dense: most offers stop here
  float* hd = &knn_d_[i * k_];
  std::uint32_t* hi = &knn_id_[i * k_];
  std::uint32_t& c = count_[i];
  // Neighbours are ordered by (distance, id), so the kept set is the k smallest
  // pairs offered whatever the order of the offers (threads, batches, files).
  auto above = [&](std::size_t s, float dd, std::uint32_t jj) {
    return hd[s] > dd || (hd[s] == dd && hi[s] > jj);
  };
  if (c == k_ && !above(0, d, j)) return;  // not among the k nearest
  for (std::uint32_t s = 0; s < c; ++s)
    if (hi[s] == j) return;  // pair already known
  changed_[i] = 1;
  if (c < k_) {
    // sift up
    std::size_t pos = c++;
    while (pos > 0) {
      const std::size_t parent = (pos - 1) / 2;
      if (above(parent, d, j)) break;  // the parent stays above (d, j)
      hd[pos] = hd[parent], hi[pos] = hi[parent];
      pos = parent;
    }
    hd[pos] = d, hi[pos] = j;
    if (c == k_) core_[i] = hd[0];
    return;
  }
  // replace the root (largest) and sift down
  std::size_t pos = 0;
  for (;;) {
    std::size_t child = 2 * pos + 1;
    if (child >= k_) break;
    if (child + 1 < k_ &&
        (hd[child + 1] > hd[child] || (hd[child + 1] == hd[child] && hi[child + 1] > hi[child])))
      ++child;
    if (!above(child, d, j)) break;
    hd[pos] = hd[child], hi[pos] = hi[child];
    pos = child;
  }
  hd[pos] = d, hi[pos] = j;
  core_[i] = hd[0];
}

void candidate_graph::canonical_neighbours(std::size_t i, std::span<float> d,
                                           std::span<std::uint32_t> id) const {
  std::vector<std::pair<float, std::uint32_t>> v;
  for (std::size_t s = 0; s < count_[i]; ++s) v.emplace_back(knn_d_[i * k_ + s], knn_id_[i * k_ + s]);
  std::sort(v.begin(), v.end(), std::greater<>());  // descending: a valid max-heap
  for (std::size_t s = 0; s < k_; ++s) {
    d[s] = s < v.size() ? v[s].first : 0.0f;
    id[s] = s < v.size() ? v[s].second : 0u;
  }
}

namespace {

bool lighter(const weighted& x, const weighted& y) noexcept {
  if (x.w != y.w) return x.w < y.w;
  if (x.a != y.a) return x.a < y.a;
  if (x.b != y.b) return x.b < y.b;
  return x.d < y.d;  // parallel edges of one pair and weight: the smaller raw distance
}

// Moves the elements whose flag is set to the front (unstable); returns their count.
std::size_t partition_by_flags(std::span<weighted> e, std::vector<std::uint8_t>& flag) {
  std::size_t lo = 0, hi = e.size();
  for (;;) {
    while (lo < hi && flag[lo]) ++lo;
    while (lo < hi && !flag[hi - 1]) --hi;
    if (lo + 1 >= hi) return lo;
    std::swap(e[lo], e[hi - 1]);
    std::swap(flag[lo], flag[hi - 1]);
  }
}

// Above this many edges a split or filter computes its predicates with all
// OpenMP threads (the reorder itself is one memory-bound pass).
constexpr std::size_t kParallelEdges = std::size_t{1} << 16;

// Splits e into [lighter than a pivot | the rest] and returns the split
// point. Large inputs: the pivot is the median of 1023 evenly spaced samples
// and the comparisons run in parallel; small ones: the exact median.
std::size_t split(std::span<weighted> e, std::vector<std::uint8_t>& flag) {
  if (e.size() < kParallelEdges) {
    const std::size_t mid = e.size() / 2;
    std::nth_element(e.begin(), e.begin() + static_cast<std::ptrdiff_t>(mid), e.end(), lighter);
    return mid;
  }
  std::vector<weighted> sample(1023);
  for (std::size_t i = 0; i < sample.size(); ++i) sample[i] = e[(2 * i + 1) * e.size() / (2 * sample.size())];
  std::nth_element(sample.begin(), sample.begin() + 511, sample.end(), lighter);
  const weighted pivot = sample[511];
  flag.resize(e.size());
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(e.size()); ++i)
    flag[static_cast<std::size_t>(i)] = lighter(e[static_cast<std::size_t>(i)], pivot);
  return partition_by_flags(e, flag);
}

// Moves the edges whose endpoints are still in different components to the
// front; returns their count. Large inputs test in parallel with read-only finds.
std::size_t keep_crossing(std::span<weighted> e, union_find& uf, std::vector<std::uint8_t>& flag) {
  if (e.size() < kParallelEdges) {
    const auto kept =
        std::partition(e.begin(), e.end(), [&uf](const weighted& x) { return uf.find(x.a) != uf.find(x.b); });
    return static_cast<std::size_t>(kept - e.begin());
  }
  flag.resize(e.size());
  const union_find& shared = uf;
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(e.size()); ++i) {
    const weighted& x = e[static_cast<std::size_t>(i)];
    flag[static_cast<std::size_t>(i)] = shared.root(x.a) != shared.root(x.b);
  }
  return partition_by_flags(e, flag);
}

// Filter-Kruskal (Osipov, Sanders, Singler 2009): split at a pivot, solve
// the light part, drop heavy edges already inside one component, recurse.
// Under the strict order `lighter` the forest is unique and is appended to
// `out` in Kruskal order, whatever the pivots. Expected O(E + n log n log(E / n)).
void filter_kruskal(std::span<weighted> e, union_find& uf, std::vector<raw_edge>& out,
                    std::vector<std::uint8_t>& flag) {
  if (e.empty() || out.size() + 1 >= uf.size()) return;
  if (e.size() <= 1024) {
    std::sort(e.begin(), e.end(), lighter);
    for (const weighted& x : e)
      if (uf.unite(x.a, x.b)) out.push_back({x.a, x.b, x.d});
    return;
  }
  std::size_t mid = split(e, flag);
  if (mid == 0 || mid == e.size()) {  // a degenerate sample: fall back to the exact median
    mid = e.size() / 2;
    std::nth_element(e.begin(), e.begin() + static_cast<std::ptrdiff_t>(mid), e.end(), lighter);
  }
  filter_kruskal(e.first(mid), uf, out, flag);
  auto heavy = e.subspan(mid);
  filter_kruskal(heavy.first(keep_crossing(heavy, uf, flag)), uf, out, flag);
}

}  // namespace

std::vector<raw_edge> minimum_spanning_forest(std::size_t n, std::span<const raw_edge> edges,
                                              std::span<const float> core) {
  return minimum_spanning_forest(n, edges, {}, core);
}

namespace {

// Mutual reachability weights of edges followed by more.
std::vector<weighted> weigh(std::span<const raw_edge> edges, std::span<const raw_edge> more,
                            std::span<const float> core) {
  std::vector<weighted> ws(edges.size() + more.size());
  const auto total = static_cast<std::int64_t>(ws.size());
#pragma omp parallel for schedule(static) if (ws.size() >= kParallelEdges)
  for (std::int64_t i = 0; i < total; ++i) {
    const auto k = static_cast<std::size_t>(i);
    auto [a, b, d] = k < edges.size() ? edges[k] : more[k - edges.size()];
    if (a > b) std::swap(a, b);
    const float c = core.empty() ? 0.0f : std::max(core[a], core[b]);
    ws[k] = {std::max(c, d), a, b, d};
  }
  return ws;
}

std::vector<raw_edge> forest_of(std::size_t n, std::vector<weighted>& ws) {
  std::vector<raw_edge> forest;
  forest.reserve(std::min(n > 0 ? n - 1 : 0, ws.size()));
  union_find uf(n);
  std::vector<std::uint8_t> flag;
  filter_kruskal(ws, uf, forest, flag);
  return forest;
}

}  // namespace

std::vector<raw_edge> minimum_spanning_forest(std::size_t n, std::span<const raw_edge> edges,
                                              std::span<const raw_edge> more, std::span<const float> core) {
  std::vector<weighted> ws = weigh(edges, more, core);
  return forest_of(n, ws);
}

namespace {

/// The CPU solver: the weighted copy of the edges is the only extra memory.
class cpu_solver final : public forest_solver {
 public:
  [[nodiscard]] std::vector<raw_edge> minimum_spanning_forest(std::size_t n, std::span<const raw_edge> edges,
                                                              std::span<const raw_edge> more,
                                                              std::span<const float> core) const override {
    return detail::minimum_spanning_forest(n, edges, more, core);
  }
  [[nodiscard]] std::vector<raw_edge> compact(std::size_t n, std::vector<raw_edge>&& edges,
                                              std::vector<raw_edge>&& more,
                                              std::span<const float> core) const override {
    // The weighted copy replaces the two lists: free them before the forest
    // is solved (this is the build's memory peak).
    std::vector<weighted> ws = weigh(edges, more, core);
    edges = {}, more = {};
    return forest_of(n, ws);
  }
};

}  // namespace

std::shared_ptr<const forest_solver> cpu_forest_solver() {
  static const std::shared_ptr<const forest_solver> solver = std::make_shared<cpu_solver>();
  return solver;
}

void candidate_graph::compact() {
  harvested_ += buffer_.size();
  peak_ = std::max<std::uint64_t>(peak_, buffer_.size() + forest_.size());
  ++compactions_;
  std::vector<raw_edge> forest = solver_->compact(n_, std::move(buffer_), std::move(forest_), core_);
  buffer_ = {};
  forest_ = std::move(forest);
  // Room for the next round without growth by doubling (whose copies would
  // briefly hold up to three times the buffer): the threshold plus an eighth.
  buffer_.reserve(threshold_ + threshold_ / 8);
}

std::uint64_t candidate_graph::buffer_neighbour_edges() {
  if (k_ == 0) return 0;
  auto holds = [&](std::size_t i, std::uint32_t j) {
    const std::uint32_t* hi = &knn_id_[i * k_];
    return std::find(hi, hi + count_[i], j) != hi + count_[i];
  };
  // Offers first, so that both sides' lists are final before any pair is
  // buffered. An offer that enters j's list marks j changed; its new pair
  // (j, i) is i's already, so one round suffices.
  const std::size_t n = n_;
  for (std::size_t i = 0; i < n; ++i)
    if (changed_[i])
      for (std::size_t s = 0; s < count_[i]; ++s)
        offer(knn_id_[i * k_ + s], static_cast<std::uint32_t>(i), knn_d_[i * k_ + s]);
  std::uint64_t added = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!changed_[i]) continue;
    for (std::size_t s = 0; s < count_[i]; ++s) {
      const std::uint32_t j = knn_id_[i * k_ + s];
      if (j < i && changed_[j] && holds(j, static_cast<std::uint32_t>(i))) continue;  // buffered from j
      buffer_.push_back({static_cast<std::uint32_t>(i), j, knn_d_[i * k_ + s]});
      ++added;
      if (buffer_.size() >= threshold_) compact();
    }
  }
  std::fill(changed_.begin(), changed_.end(), std::uint8_t{0});
  return added;
}

spanning_tree candidate_graph::finish() const {
  std::vector<raw_edge> forest;
  return finish_into(forest);
}

spanning_tree candidate_graph::finish_and_compact() {
  std::vector<raw_edge> forest;
  spanning_tree t = finish_into(forest);
  const std::span<const float> core = t.core_distances;
  auto weight = [&](const raw_edge& e) { return std::max({core[e.a], core[e.b], e.d}); };
  auto canonical = [](raw_edge e) {
    if (e.a > e.b) std::swap(e.a, e.b);
    return e;
  };
  auto before = [](const raw_edge& x, const raw_edge& y) {
    return std::tie(x.a, x.b, x.d) < std::tie(y.a, y.b, y.d);
  };
  auto same = [](const raw_edge& x, const raw_edge& y) { return x.a == y.a && x.b == y.b && x.d == y.d; };
  // The candidate edges outside the new forest, once each (built in the
  // buffer's memory: one copy of the edges at a time).
  const std::size_t was_buffered = buffer_.size();
  peak_ = std::max<std::uint64_t>(peak_, buffer_.size() + forest_.size());
  std::vector<raw_edge> rest = std::move(buffer_);
  buffer_ = {};
  rest.insert(rest.end(), forest_.begin(), forest_.end());
  forest_ = {};
  for (raw_edge& e : rest) e = canonical(e);
  std::sort(rest.begin(), rest.end(), before);
  rest.erase(std::unique(rest.begin(), rest.end(), same), rest.end());
  std::vector<raw_edge> in_forest(forest.size());
  std::transform(forest.begin(), forest.end(), in_forest.begin(), canonical);
  std::sort(in_forest.begin(), in_forest.end(), before);
  rest.erase(std::remove_if(rest.begin(), rest.end(),
                            [&](const raw_edge& e) {
                              return std::binary_search(in_forest.begin(), in_forest.end(), e, before);
                            }),
             rest.end());
  in_forest = {};
  // Drop an edge (a, b, d) when the forest joins a and b by a path whose
  // mutual reachability weights are all < d: core distances only decrease, so
  // those weights stay < d while the edge's weight stays >= d, and the edge
  // is the strict maximum of a cycle in every later candidate graph: it is in
  // no later minimum spanning forest. (Kruskal over the forest in weight
  // order answers "joined below d" for the edges in order of d.)
  std::vector<std::pair<float, std::uint32_t>> order(forest.size());
  for (std::size_t f = 0; f < forest.size(); ++f)
    order[f] = {weight(forest[f]), static_cast<std::uint32_t>(f)};
  std::sort(order.begin(), order.end());
  std::sort(rest.begin(), rest.end(), [](const raw_edge& x, const raw_edge& y) {
    return std::tie(x.d, x.a, x.b) < std::tie(y.d, y.a, y.b);
  });
  union_find joined(n_);
  std::vector<raw_edge> kept;
  std::size_t next = 0;
  for (const raw_edge& e : rest) {
    while (next < order.size() && order[next].first < e.d) {
      const raw_edge& f = forest[order[next].second];
      joined.unite(f.a, f.b);
      ++next;
    }
    if (joined.find(e.a) != joined.find(e.b)) kept.push_back(e);
  }
  rest = {};
  std::sort(kept.begin(), kept.end(), before);
  harvested_ += was_buffered;
  harvested_ -= std::min<std::uint64_t>(harvested_, kept.size());
  buffer_ = std::move(kept);
  forest_ = std::move(forest);
  return t;
}

spanning_tree candidate_graph::finish_into(std::vector<raw_edge>& forest) const {
  spanning_tree t;
  t.n = n_;
  t.core_distances.resize(n_);
  for (std::size_t i = 0; i < n_; ++i) t.core_distances[i] = core_distance(i);
  forest = solver_->minimum_spanning_forest(n_, forest_, buffer_, t.core_distances);
  union_find uf(n_);
  t.edges.reserve(n_ > 0 ? n_ - 1 : 0);
  for (const raw_edge& e : forest) {
    uf.unite(e.a, e.b);
    const float w = std::max({t.core_distances[e.a], t.core_distances[e.b], e.d});
    t.edges.push_back({e.a, e.b, static_cast<double>(w)});
  }
  // Disconnected candidate graph: join each remaining part to item 0's at infinity.
  for (std::uint32_t i = 1; i < n_; ++i)
    if (uf.unite(0, i)) t.edges.push_back({0, i, std::numeric_limits<double>::infinity()});
  return t;
}

void candidate_graph::grow(std::size_t n) {
  if (n <= n_) return;
  knn_d_.resize(n * k_);
  knn_id_.resize(n * k_);
  count_.resize(n, 0);
  core_.resize(n, k_ == 0 ? 0.0f : kInf);
  changed_.resize(n, 0);
  n_ = n;
}

void candidate_graph::restore(std::vector<float> knn_d, std::vector<std::uint32_t> knn_id,
                              std::vector<std::uint32_t> known, std::vector<raw_edge> forest,
                              std::vector<raw_edge> buffered) {
  n_ = known.size();
  knn_d_ = std::move(knn_d);
  knn_id_ = std::move(knn_id);
  count_ = std::move(known);
  forest_ = std::move(forest);
  buffer_ = std::move(buffered);
  core_.assign(n_, k_ == 0 ? 0.0f : kInf);
  changed_.assign(n_, 0);  // the stored edges already hold these lists' pairs
  for (std::size_t i = 0; i < n_; ++i)
    if (k_ > 0 && count_[i] == k_)
      core_[i] = *std::max_element(knn_d_.begin() + static_cast<std::ptrdiff_t>(i * k_),
                                   knn_d_.begin() + static_cast<std::ptrdiff_t>((i + 1) * k_));
}

}  // namespace chutoro::detail
