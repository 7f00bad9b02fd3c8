// chutoro — the graph stage as reusable steps, shared by chutoro::fit and
// chutoro::model: building or extending FISHDBC's HNSW graph and candidate
// graph, and the exact all-pairs tree.
#pragma once

#include <chutoro/data_source.hpp>
#include <chutoro/fit.hpp>
#include <chutoro/params.hpp>
#include <chutoro/result.hpp>
#include <cstddef>

#include "core/hnsw/hnsw.hpp"
#include "core/mst/candidate_graph.hpp"

namespace chutoro::detail {

/// What hnsw mode keeps between calls: the graph (items 0..graph.inserted-1
/// are linked) and the candidate graph (core-distance estimates, forest).
struct hnsw_state {
  hnsw_graph graph;
  candidate_graph candidates;
  hnsw_state(const build_params& bp, std::size_t min_samples)
      : graph(bp.m, bp.ef_construction, bp.seed),
        candidates(0, min_samples, bp.compaction_factor, bp.compaction_min_edges) {}
};

/// Inserts items s.graph.inserted..data.size()-1 of `data` in a seeded random
/// order (FISHDBC, Dell'Amico 2019, sections 3.2-3.3), harvesting every
/// computed distance, and returns the spanning tree of all items under the
/// current core distances. Adds to `stats`. Uses the current OpenMP thread
/// count. Throws what the distance throws; `s` is then unusable.
spanning_tree extend_hnsw(hnsw_state& s, const data_source& data, const build_params& bp, fit_stats& stats,
                          const progress_fn& progress);

/// Exact core distances and Prim's tree over all items (O(n^2) distances).
spanning_tree build_exact(const data_source& data, std::size_t min_samples, fit_stats& stats,
                          const progress_fn& progress);

/// Checks n and min_samples for a build over `data` (error(invalid_argument)).
void check_build_size(const data_source& data, std::size_t min_samples);

/// Sets the OpenMP thread count for its lifetime (threads > 0), then restores it.
class omp_threads_scope {
 public:
  explicit omp_threads_scope(int threads);
  ~omp_threads_scope();
  omp_threads_scope(const omp_threads_scope&) = delete;
  omp_threads_scope& operator=(const omp_threads_scope&) = delete;

 private:
  int saved_;
};

}  // namespace chutoro::detail
