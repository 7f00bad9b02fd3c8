// chutoro — HNSW graph construction (Malkov & Yashunin 2018, "Efficient and
// robust approximate nearest neighbor search using Hierarchical Navigable
// Small World graphs", Algorithms 1, 2 and 4) with FISHDBC's harvest
// (Dell'Amico 2019, section 3): every distance the build computes is handed
// to a sink as a candidate edge.
//
// Items are addressed by id only; the distance is a callable the class is
// templated on, so built-in metrics inline. Layer 0 keeps m0 = 2m links, upper
// layers m; levels are drawn as floor(-ln(U) / ln(m)) from a seeded generator.
// Not thread safe: one builder inserts from one thread.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <queue>
#include <random>
#include <utility>
#include <vector>

namespace chutoro::detail {

/// Distance: float(std::uint32_t a, std::uint32_t b) const.
/// Sink: void edge(std::uint32_t a, std::uint32_t b, float d) for every newly
/// computed pair. Distances recomputed for pairs already linked (when a full
/// neighbour list is pruned) are counted but not re-harvested: every link's
/// distance was harvested when the link was made.
template <class Distance, class Sink>
class hnsw_builder {
 public:
  using id_t = std::uint32_t;
  struct scored {
    float d;
    id_t id;
    bool operator<(const scored& o) const noexcept { return d < o.d || (d == o.d && id < o.id); }
    bool operator>(const scored& o) const noexcept { return o < *this; }
  };

  hnsw_builder(std::size_t n, std::size_t m, std::size_t ef_construction, std::uint64_t seed, Distance dist,
               Sink& sink)
      : n_(n),
        m_(m),
        m0_(2 * m),
        ef_(std::max<std::size_t>(ef_construction, 1)),
        dist_(std::move(dist)),
        sink_(sink),
        level_(n),
        links0_(n * (m0_ + 1), 0),
        upper_(n),
        dist_mark_(n, 0),
        layer_mark_(n, 0),
        dist_cache_(n, 0.0f) {
    std::mt19937_64 rng(seed);
    const double mult = 1.0 / std::log(static_cast<double>(std::max<std::size_t>(m, 2)));
    for (std::size_t i = 0; i < n; ++i) {
      // U in (0, 1] from 53 random bits: portable across standard libraries.
      const double u = (static_cast<double>(rng() >> 11) + 1.0) * (1.0 / 9007199254740992.0);
      const auto l = static_cast<int>(std::floor(-std::log(u) * mult));
      level_[i] = static_cast<std::uint8_t>(std::min(l, 60));
      if (level_[i] > 0) upper_[i].assign(static_cast<std::size_t>(level_[i]) * (m_ + 1), 0);
    }
  }

  /// Inserts item q (ids must be inserted once each, in any order).
  void insert(id_t q) {
    begin_query(q);
    const int lq = level_[q];
    if (count_ == 0) {
      entry_ = q;
      max_level_ = lq;
      ++count_;
      return;
    }
    id_t ep = entry_;
    float ep_d = dq(ep);
    for (int l = max_level_; l > lq; --l) greedy(ep, ep_d, l);
    std::vector<scored> eps{{ep_d, ep}};
    for (int l = std::min(lq, max_level_); l >= 0; --l) {
      std::vector<scored> w = search_layer(eps, ef_, l);
      std::vector<scored> sel = select_heuristic(w, l == 0 ? m0_ : m_);
      id_t* lq_links = links(q, l);
      lq_links[0] = static_cast<id_t>(sel.size());
      for (std::size_t k = 0; k < sel.size(); ++k) lq_links[1 + k] = sel[k].id;
      for (const scored& s : sel) connect(s.id, q, s.d, l);
      eps = std::move(w);
    }
    if (lq > max_level_) {
      max_level_ = lq;
      entry_ = q;
    }
    ++count_;
  }

  /// k approximate nearest neighbours of item q among the inserted items
  /// (q itself excluded), ascending. Harvests what it computes.
  std::vector<scored> search(id_t q, std::size_t k, std::size_t ef) {
    if (count_ == 0) return {};
    begin_query(q);
    id_t ep = entry_;
    float ep_d = dq(ep);
    for (int l = max_level_; l > 0; --l) greedy(ep, ep_d, l);
    std::vector<scored> w = search_layer({{ep_d, ep}}, std::max(ef, k + 1), 0);
    std::erase_if(w, [q](const scored& s) { return s.id == q; });
    if (w.size() > k) w.resize(k);
    return w;
  }

  [[nodiscard]] std::uint64_t distance_computations() const noexcept { return computed_; }
  [[nodiscard]] std::size_t inserted() const noexcept { return count_; }

 private:
  id_t* links(id_t x, int l) noexcept {
    return l == 0 ? &links0_[static_cast<std::size_t>(x) * (m0_ + 1)]
                  : &upper_[x][static_cast<std::size_t>(l - 1) * (m_ + 1)];
  }

  void begin_query(id_t q) {
    q_ = q;
    if (++dist_epoch_ == 0) {
      std::fill(dist_mark_.begin(), dist_mark_.end(), 0);
      dist_epoch_ = 1;
    }
  }

  float raw(id_t a, id_t b) {
    ++computed_;
    return dist_(a, b);
  }

  // Distance from the current query to x, computed once per query and harvested.
  float dq(id_t x) {
    if (dist_mark_[x] == dist_epoch_) return dist_cache_[x];
    if (x == q_) return 0.0f;  // search() from an inserted item meets itself: not a pair
    const float d = raw(q_, x);
    dist_mark_[x] = dist_epoch_;
    dist_cache_[x] = d;
    sink_.edge(q_, x, d);
    return d;
  }

  void greedy(id_t& ep, float& ep_d, int l) {
    for (bool changed = true; changed;) {
      changed = false;
      const id_t* lk = links(ep, l);
      for (id_t k = 0; k < lk[0]; ++k) {
        const float d = dq(lk[1 + k]);
        if (d < ep_d) ep_d = d, ep = lk[1 + k], changed = true;
      }
    }
  }

  // Algorithm 2: beam search on layer l from the entry points; result ascending.
  std::vector<scored> search_layer(const std::vector<scored>& eps, std::size_t ef, int l) {
    if (++layer_epoch_ == 0) {
      std::fill(layer_mark_.begin(), layer_mark_.end(), 0);
      layer_epoch_ = 1;
    }
    std::priority_queue<scored, std::vector<scored>, std::greater<>> cand;  // nearest first
    std::priority_queue<scored> found;                                      // farthest first
    for (const scored& e : eps) {
      layer_mark_[e.id] = layer_epoch_;
      cand.push(e);
      found.push(e);
      if (found.size() > ef) found.pop();
    }
    while (!cand.empty()) {
      const scored c = cand.top();
      // Stop at the first candidate no closer than the worst kept one; with
      // integer distances (levenshtein) this avoids walking whole plateaus of ties.
      if (found.size() >= ef && c.d >= found.top().d) break;
      cand.pop();
      const id_t* lk = links(c.id, l);
      for (id_t k = 0; k < lk[0]; ++k) {
        const id_t x = lk[1 + k];
        if (layer_mark_[x] == layer_epoch_) continue;
        layer_mark_[x] = layer_epoch_;
        const float d = dq(x);
        if (found.size() < ef || d < found.top().d) {
          cand.push({d, x});
          found.push({d, x});
          if (found.size() > ef) found.pop();
        }
      }
    }
    std::vector<scored> out(found.size());
    for (std::size_t i = out.size(); i-- > 0; found.pop()) out[i] = found.top();
    return out;
  }

  // Algorithm 4 (keepPrunedConnections = false), as hnswlib: a candidate is
  // kept when it is closer to the base than to every already kept neighbour.
  // `cand` is ascending by distance to the base.
  std::vector<scored> select_heuristic(const std::vector<scored>& cand, std::size_t m) {
    std::vector<scored> sel;
    if (cand.size() <= m) return cand;
    sel.reserve(m);
    for (const scored& c : cand) {
      if (sel.size() >= m) break;
      bool good = true;
      for (const scored& s : sel) {
        const float d = raw(c.id, s.id);
        sink_.edge(c.id, s.id, d);
        if (d <= c.d) {
          good = false;
          break;
        }
      }
      if (good) sel.push_back(c);
    }
    return sel;
  }

  // Adds the link e -> q on layer l, pruning e's list with the heuristic when full.
  void connect(id_t e, id_t q, float d_eq, int l) {
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
    for (id_t k = 0; k < lk[0]; ++k) cand.push_back({raw(e, lk[1 + k]), lk[1 + k]});
    std::sort(cand.begin(), cand.end());
    const std::vector<scored> sel = select_heuristic(cand, cap);
    lk[0] = static_cast<id_t>(sel.size());
    for (std::size_t k = 0; k < sel.size(); ++k) lk[1 + k] = sel[k].id;
  }

  std::size_t n_, m_, m0_, ef_;
  Distance dist_;
  Sink& sink_;
  std::vector<std::uint8_t> level_;
  std::vector<id_t> links0_;              // n x (1 + m0): count, links
  std::vector<std::vector<id_t>> upper_;  // per node: level x (1 + m)
  std::vector<std::uint32_t> dist_mark_, layer_mark_;
  std::vector<float> dist_cache_;
  std::uint32_t dist_epoch_ = 0, layer_epoch_ = 0;
  id_t q_ = 0, entry_ = 0;
  int max_level_ = 0;
  std::size_t count_ = 0;
  std::uint64_t computed_ = 0;
};

}  // namespace chutoro::detail
