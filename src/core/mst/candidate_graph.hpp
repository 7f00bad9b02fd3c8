// chutoro — FISHDBC's candidate graph (Dell'Amico 2019, section 3.2): the
// core-distance estimates and the bounded set of candidate edges.
//
// Every harvested distance d(a, b) updates the k-nearest lists of a and b
// (k = min_samples - 1 other items, since the item itself is the first
// neighbour; ties broken by id, so the lists do not depend on the order of
// the offers) and is buffered as a candidate edge. When the buffer exceeds
// max(compaction_min_edges, compaction_factor * n_seen) edges, buffer and
// forest are reduced to their minimum spanning forest under the current
// mutual reachability distance (Kruskal), so memory stays within
// (n - 1) + threshold + (edges harvested by one insertion batch) edges of
// 12 bytes (the build hands edges over once per batch, see absorb(); the
// buffer is reserved at 1.125 x threshold, so it never grows by doubling).
// Core-distance estimates only decrease as more distances arrive, so an edge
// dropped by a compaction was the heaviest on a cycle when it was dropped;
// this is FISHDBC's approximation. An estimate not yet final can make an
// edge look heavier than it will be; buffer_neighbour_edges() gives back
// those whose final weight is a core distance. Not thread safe.
//
// Compactions and finish() solve their forests with the graph's
// forest_solver: the pipeline passes its backend's (src/core/backend), so a
// device backend solves them; direct users (tests, tools) get the CPU's
// Filter-Kruskal by default.
#pragma once

#include <algorithm>
#include <chutoro/result.hpp>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <vector>

namespace chutoro::detail {

/// A candidate edge with its raw (not mutual-reachability) distance.
struct raw_edge {
  std::uint32_t a;
  std::uint32_t b;
  float d;
};

/// Minimum spanning forest of `edges` on items 0..n-1 under mutual reachability
/// max(core[a], core[b], d) (plain d when `core` is empty), ties broken by
/// (a, b, d) so the forest is unique (parallel edges of one pair, as an
/// asymmetric user metric or a crafted model file can give, included); returned in Kruskal order with a < b.
/// Filter-Kruskal, expected O(E + n log n log(E / n)) time, O(E) extra memory
/// (17 bytes per edge); above 2^16 edges the pivot comparisons, the component
/// filter and the weights use all OpenMP threads. The result does not depend on them.
std::vector<raw_edge> minimum_spanning_forest(std::size_t n, std::span<const raw_edge> edges,
                                              std::span<const float> core);
/// The same over the union of two edge lists (no concatenated copy).
std::vector<raw_edge> minimum_spanning_forest(std::size_t n, std::span<const raw_edge> edges,
                                              std::span<const raw_edge> more, std::span<const float> core);

/// What solves a candidate graph's minimum spanning forests (its compactions
/// and finish()). Contract of every implementation: exactly the forest
/// minimum_spanning_forest above returns (the unique minimum under mutual
/// reachability with ties broken by (a, b, d)), in the same order, so that every
/// solver gives bit-identical trees. Implementations are thread safe (const).
class forest_solver {
 public:
  virtual ~forest_solver() = default;
  /// The forest of `edges` and `more` on items 0..n-1 under `core` (see above).
  [[nodiscard]] virtual std::vector<raw_edge> minimum_spanning_forest(std::size_t n,
                                                                      std::span<const raw_edge> edges,
                                                                      std::span<const raw_edge> more,
                                                                      std::span<const float> core) const = 0;
  /// The same, taking the two lists over (a compaction): the solver may free
  /// them as soon as it has its own copy, which keeps the build's memory peak
  /// at one copy of the edges. Default: solve, then free.
  [[nodiscard]] virtual std::vector<raw_edge> compact(std::size_t n, std::vector<raw_edge>&& edges,
                                                      std::vector<raw_edge>&& more,
                                                      std::span<const float> core) const {
    std::vector<raw_edge> forest = minimum_spanning_forest(n, edges, more, core);
    edges = {}, more = {};
    return forest;
  }
};

/// The CPU's solver (the free function above), shared by every caller.
[[nodiscard]] std::shared_ptr<const forest_solver> cpu_forest_solver();

class candidate_graph {
 public:
  /// n items, core distance = distance to the min_samples-th nearest (self included).
  /// `solver` (null: cpu_forest_solver()) solves the compactions and finish().
  candidate_graph(std::size_t n, std::size_t min_samples, std::size_t compaction_factor,
                  std::size_t compaction_min_edges, std::shared_ptr<const forest_solver> solver = nullptr);

  /// Replaces the forest solver (null: cpu_forest_solver()). Results do not change.
  void set_solver(std::shared_ptr<const forest_solver> solver);

  /// Records one computed distance (a != b).
  void edge(std::uint32_t a, std::uint32_t b, float d) {
    offer(a, b, d);
    offer(b, a, d);
    buffer_.push_back({a, b, d});
    if (buffer_.size() >= threshold_) compact();
  }

  /// Records a batch of computed distances: `edges` as edge() does (offered
  /// to both items, buffered), `offers` (a, b, d) offered to a's k-nearest
  /// list only. Offers run in parallel (each OpenMP thread owns the items i
  /// with i % threads == thread); then compacts if the buffer reached the
  /// threshold. The result does not depend on the order of the parts.
  void absorb(std::span<const std::span<const raw_edge>> edges,
              std::span<const std::span<const raw_edge>> offers = {});

  /// absorb() in two parts, for a team of threads that is already running
  /// (the HNSW build's): absorb_part(edges, offers, t, threads) on every
  /// thread t of the team (the offers to items i with i % threads == t; the
  /// parts touch disjoint items), then buffer(edges) on one thread, which
  /// returns whether the buffer reached the compaction threshold (the caller
  /// then calls compact()). Together: absorb() less its compaction.
  void absorb_part(std::span<const std::span<const raw_edge>> edges,
                   std::span<const std::span<const raw_edge>> offers, std::uint32_t t,
                   std::uint32_t threads) noexcept;
  bool buffer(std::span<const std::span<const raw_edge>> edges);

  /// Tells the graph how many items have been inserted (scales the threshold).
  void set_items_seen(std::size_t seen) noexcept;

  /// Number of known neighbours of item i (at most min_samples - 1).
  [[nodiscard]] std::size_t known_neighbours(std::size_t i) const noexcept { return count_[i]; }
  /// Current core-distance estimate of item i: +inf while fewer than k neighbours are known.
  [[nodiscard]] float core_distance(std::size_t i) const noexcept { return core_[i]; }
  /// All current estimates (n values; the span is stable until grow()).
  [[nodiscard]] std::span<const float> core_estimates() const noexcept { return core_; }

  /// Replaces forest and buffer by their minimum spanning forest under the
  /// current mutual reachability (FISHDBC's compaction).
  void compact();

  /// Makes the k-nearest lists' pairs candidate edges again (docs/algorithm.md,
  /// "k-nearest pairs as edges"): for every item whose list changed since the
  /// last call (or since restore()), each pair (i, j) it holds is first offered
  /// to j's list (the offers of a search reach one side only), then buffered as
  /// an edge (a pair in both lists once). A compaction drops an edge whose
  /// weight a not yet final core estimate inflated; the final lists give back
  /// those whose final weight is a core distance. No distance is computed.
  /// Compacts whenever the buffer reaches the threshold, as harvesting does.
  /// Deterministic (the lists do not depend on the order of the offers).
  /// O(n + changed items x k); returns the edges buffered.
  std::uint64_t buffer_neighbour_edges();

  /// Spanning tree: the minimum spanning forest of all candidate edges (forest
  /// and buffer) under the current core distances, disconnected parts joined
  /// by infinite edges; edges (mutual reachability) sorted by (distance, a, b).
  /// The candidate edges are kept as they are, so more edges (and items) can
  /// follow and are treated as if they had come in the same call (FISHDBC's
  /// update; compaction happens only when the buffer fills).
  [[nodiscard]] spanning_tree finish() const;
  /// finish(), then a lossless compaction: the forest it found becomes the
  /// forest, and the buffer keeps only the other candidate edges (a, b, d)
  /// that the forest does not join by a path of mutual reachability weights
  /// all < d (sorted by (a, b, d), a < b). Core distances only decrease, so a
  /// dropped edge is in no later minimum spanning forest: every later tree is
  /// the one finish() would give without it. The tree is finish()'s; the
  /// forest solver is called once; not counted in compactions(). A fit or add
  /// ends with it, and a model file stores its result (docs/model_format.md),
  /// so a saved model and one that never was grow alike.
  /// O(E log E + n) for the E candidate edges.
  [[nodiscard]] spanning_tree finish_and_compact();

  /// Makes room for items size()..n-1 (no known neighbours yet).
  void grow(std::size_t n);
  [[nodiscard]] std::size_t size() const noexcept { return n_; }
  /// k = min_samples - 1: the neighbours each item keeps.
  [[nodiscard]] std::size_t k() const noexcept { return k_; }

  /// The state a model file stores: n x k heaps (distances, ids), the filled
  /// slots per item, and the minimum spanning forest (valid after finish()).
  [[nodiscard]] std::span<const float> knn_distances() const noexcept { return knn_d_; }
  [[nodiscard]] std::span<const std::uint32_t> knn_ids() const noexcept { return knn_id_; }
  [[nodiscard]] std::span<const std::uint32_t> known() const noexcept { return count_; }
  [[nodiscard]] std::span<const raw_edge> forest() const noexcept { return forest_; }
  /// Candidate edges harvested since the last compaction.
  [[nodiscard]] std::span<const raw_edge> buffered() const noexcept { return buffer_; }
  /// Item i's k slots in a canonical layout (sorted descending by (distance,
  /// id), a valid max-heap; unfilled slots zero): the same bytes whatever the
  /// order the distances were offered in.
  void canonical_neighbours(std::size_t i, std::span<float> d, std::span<std::uint32_t> id) const;
  /// Replaces that state (sizes as above, n = known.size(); forest a forest
  /// over those items, buffered any edges). The caller validates the values.
  void restore(std::vector<float> knn_d, std::vector<std::uint32_t> knn_id, std::vector<std::uint32_t> known,
               std::vector<raw_edge> forest, std::vector<raw_edge> buffered);

  [[nodiscard]] std::uint64_t harvested() const noexcept { return harvested_ + buffer_.size(); }
  [[nodiscard]] std::uint64_t peak_buffered() const noexcept {
    return std::max<std::uint64_t>(peak_, buffer_.size() + forest_.size());
  }
  [[nodiscard]] std::uint64_t compactions() const noexcept { return compactions_; }

 private:
  void offer(std::uint32_t i, std::uint32_t j, float d) noexcept;
  /// finish(), leaving the forest of all candidate edges in `forest`.
  spanning_tree finish_into(std::vector<raw_edge>& forest) const;

  std::size_t n_, k_, factor_, min_edges_, threshold_;
  std::vector<float> knn_d_;           // n x k, max-heap by distance per item
  std::vector<std::uint32_t> knn_id_;  // n x k
  std::vector<std::uint32_t> count_;   // filled slots per item
  std::vector<float> core_;            // n: the heap roots (inf while not full), dense for fast filtering
  std::vector<std::uint8_t> changed_;  // n: 1 when the list changed since buffer_neighbour_edges()
  std::vector<raw_edge> forest_, buffer_;
  std::uint64_t harvested_ = 0, peak_ = 0, compactions_ = 0;
  std::shared_ptr<const forest_solver> solver_;
};

}  // namespace chutoro::detail
