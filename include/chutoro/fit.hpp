// chutoro — the FISHDBC pipeline (Dell'Amico 2019, arXiv:1910.07283).
//
//   data_source -> HNSW build, harvesting every computed distance as a candidate edge
//               -> core distances (min_samples, the item itself counting)
//               -> minimum spanning tree under mutual reachability
//               -> single-linkage tree -> condensed tree (min_cluster_size)
//               -> selection (eom | leaf, epsilon, allow_single_cluster)
//               -> labels, probabilities, GLOSH outlier scores, persistence
//
// There is one pipeline, chutoro::model (model.hpp): fit() builds a model
// over the data and takes its clustering, tree and stats; build_spanning_tree
// runs the same pipeline's graph stage alone. The graph stage runs on the
// backend chosen by build_params::device (select_device).
#pragma once

#include <chutoro/data_source.hpp>
#include <chutoro/params.hpp>
#include <chutoro/result.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace chutoro {

/// Progress callback: (stage name, items done, items total). Called from the
/// calling thread only, at most a few hundred times per stage.
using progress_fn = std::function<void(std::string_view stage, std::size_t done, std::size_t total)>;

/// Where a graph stage asked for `requested` would run on this machine.
struct device_selection {
  device_kind device = device_kind::cpu;  ///< cpu or cuda, never auto_select
  std::string fallback_reason;            ///< why auto_select chose the CPU; else empty
};

/// The device (and, for an automatic choice that stays on the CPU, the
/// reason) that build_params::device = `requested` selects here, with
/// CHUTORO_DEVICE applied as device_kind::auto_select documents: what
/// fit_stats::device and device_fallback_reason will report. Throws
/// error(unsupported) naming why for cuda when no GPU can be used (e.g. a
/// build without the CUDA backend), error(invalid_argument) naming
/// CHUTORO_DEVICE for a bad value of that variable. Thread safe.
device_selection select_device(device_kind requested);

/// Builds the minimum spanning tree of the candidate graph under mutual
/// reachability: the graph stage of chutoro::model, alone. Candidates: hnsw
/// (FISHDBC) or exact (all pairs, Prim's algorithm on the implicit complete
/// graph: O(n^2) distances, O(n) memory). k = bp.min_samples, which must be
/// set (there is no min_cluster_size here to default to). Throws
/// error(invalid_argument) for bad parameters or an unset min_samples, fewer
/// than 2 items, or a NaN/negative distance (naming the pair); device errors
/// as select_device. Thread safety: reentrant; uses bp.threads OpenMP threads.
spanning_tree build_spanning_tree(const data_source& data, const build_params& bp, fit_stats* stats = nullptr,
                                  const progress_fn& progress = {});
/// The same with k = `min_samples`, which replaces bp.min_samples (the form
/// of earlier releases, kept so that existing code compiles).
spanning_tree build_spanning_tree(const data_source& data, const build_params& bp, std::size_t min_samples,
                                  fit_stats* stats = nullptr, const progress_fn& progress = {});

/// HDBSCAN* extraction from a spanning tree (Campello et al. 2013/2015;
/// hdbscan's conventions): single linkage, condensed tree, selection, labels,
/// probabilities, GLOSH outlier scores, persistence. O(n log n).
clustering extract_clusters(const spanning_tree& tree, const selection_params& sp);

/// DBSCAN* flat clustering at one mutual-reachability distance (Campello et
/// al. 2013, sec. 3; hdbscan's dbscan_clustering / labelling_at_cut): items
/// joined by merges of `single_linkage_tree` (clustering::single_linkage_tree,
/// n - 1 rows) below cut_distance form a group; groups of at least
/// min_cluster_size items get labels 0, 1, ... in the order of their first
/// item, the others -1. n labels. O(n). Throws error(invalid_argument) for a
/// NaN cut_distance or a malformed tree. Reentrant.
std::vector<std::int32_t> dbscan_clustering(std::span<const linkage_row> single_linkage_tree,
                                            double cut_distance, std::size_t min_cluster_size);

/// The whole pipeline: chutoro::model(data, p) without the state a model
/// keeps for add / predict (the HNSW graph is freed once the tree is built),
/// its clustering, tree and stats moved into the result. `data` is only
/// read, and only during the call. Throws error(invalid_argument) when
/// data.size() < min_cluster_size or parameters are out of range; device
/// errors as select_device.
result fit(const data_source& data, const params& p, const progress_fn& progress = {});

}  // namespace chutoro
