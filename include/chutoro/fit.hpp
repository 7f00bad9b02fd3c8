// chutoro — the FISHDBC pipeline (Dell'Amico 2019, arXiv:1910.07283).
//
//   data_source -> HNSW build, harvesting every computed distance as a candidate edge
//               -> core distances (min_samples, the item itself counting)
//               -> minimum spanning tree under mutual reachability
//               -> single-linkage tree -> condensed tree (min_cluster_size)
//               -> selection (eom | leaf, epsilon, allow_single_cluster)
//               -> labels, probabilities, GLOSH outlier scores, persistence
#pragma once

#include <chutoro/data_source.hpp>
#include <chutoro/params.hpp>
#include <chutoro/result.hpp>
#include <cstddef>
#include <functional>
#include <string_view>

namespace chutoro {

/// Progress callback: (stage name, items done, items total). Called from the
/// calling thread only, at most a few hundred times per stage.
using progress_fn = std::function<void(std::string_view stage, std::size_t done, std::size_t total)>;

/// Builds the minimum spanning tree of the candidate graph under mutual
/// reachability. Candidates: hnsw (FISHDBC) or exact (all pairs, Prim's
/// algorithm on the implicit complete graph: O(n^2) distances, O(n) memory).
/// Throws error(invalid_argument) for bad parameters, fewer than 2 items, or a
/// NaN/negative distance (naming the pair). Thread safety: reentrant; uses
/// build.threads OpenMP threads.
spanning_tree build_spanning_tree(const data_source& data, const build_params& bp, std::size_t min_samples,
                                  fit_stats* stats = nullptr, const progress_fn& progress = {});

/// HDBSCAN* extraction from a spanning tree (Campello et al. 2013/2015;
/// hdbscan's conventions): single linkage, condensed tree, selection, labels,
/// probabilities, GLOSH outlier scores, persistence. O(n log n).
clustering extract_clusters(const spanning_tree& tree, const selection_params& sp);

/// The whole pipeline. Throws error(invalid_argument) when data.size() <
/// min_cluster_size or parameters are out of range.
result fit(const data_source& data, const params& p, const progress_fn& progress = {});

}  // namespace chutoro
