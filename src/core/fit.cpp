// chutoro — chutoro::fit, build_spanning_tree and extract_clusters: thin
// doors into the one pipeline, chutoro::model's (model::impl::run in
// src/core/model/model.cpp), stopped after the clustering or the tree.
#include <algorithm>
#include <chutoro/error.hpp>
#include <chutoro/fit.hpp>
#include <memory>
#include <string>

#include "core/hierarchy/hierarchy.hpp"
#include "core/model/model_impl.hpp"

namespace chutoro {

namespace {

/// A shared_ptr to `data` that does not own it: the pipeline keeps its data
/// as a std::shared_ptr (models own theirs). fit and build_spanning_tree only
/// read it (nothing on their path appends), and only during the call.
std::shared_ptr<data_source> borrowed(const data_source& data) {
  return {std::shared_ptr<data_source>(), const_cast<data_source*>(&data)};
}

/// Adds the counters of `more` to `into` (peaks: the larger) and takes its device.
void add_stats(fit_stats& into, fit_stats&& more) {
  into.distance_computations += more.distance_computations;
  into.candidate_edges += more.candidate_edges;
  into.peak_buffered_edges = std::max(into.peak_buffered_edges, more.peak_buffered_edges);
  into.compactions += more.compactions;
  into.max_batch_edges = std::max(into.max_batch_edges, more.max_batch_edges);
  into.seconds_graph += more.seconds_graph;
  into.seconds_mst += more.seconds_mst;
  into.seconds_hierarchy += more.seconds_hierarchy;
  into.candidates = more.candidates;
  into.device = more.device;
  into.device_fallback_reason = std::move(more.device_fallback_reason);
}

}  // namespace

spanning_tree build_spanning_tree(const data_source& data, const build_params& bp, fit_stats* stats,
                                  const progress_fn& progress) {
  expects(bp.min_samples.has_value(), error_code::invalid_argument,
          "build_spanning_tree: build_params::min_samples must be set (the core-distance k; there is no "
          "min_cluster_size here to default to)");
  params p;
  p.build = bp;
  auto m = model::impl::run(borrowed(data), p, progress, model::impl::goal::tree);
  if (stats) add_stats(*stats, std::move(m->stats));
  return std::move(m->tree);
}

spanning_tree build_spanning_tree(const data_source& data, const build_params& bp, std::size_t min_samples,
                                  fit_stats* stats, const progress_fn& progress) {
  build_params one = bp;
  one.min_samples = min_samples;
  return build_spanning_tree(data, one, stats, progress);
}

clustering extract_clusters(const spanning_tree& tree, const selection_params& sp) {
  params p;
  p.selection = sp;
  validate(p);
  expects(tree.edges.size() + 1 == tree.n, error_code::invalid_argument,
          "spanning tree has " + std::to_string(tree.edges.size()) + " edges for " + std::to_string(tree.n) +
              " items (expected n - 1)");
  return detail::extract(tree.n, tree.edges, sp);
}

std::vector<std::int32_t> dbscan_clustering(std::span<const linkage_row> single_linkage_tree,
                                            double cut_distance, std::size_t min_cluster_size) {
  const auto rows = static_cast<std::int64_t>(single_linkage_tree.size());
  for (std::size_t r = 0; r < single_linkage_tree.size(); ++r) {
    const linkage_row& row = single_linkage_tree[r];
    expects(
        row.left >= 0 && row.right >= 0 && row.left < rows + 1 + static_cast<std::int64_t>(r) &&
            row.right < rows + 1 + static_cast<std::int64_t>(r),
        error_code::invalid_argument,
        "dbscan_clustering: single-linkage row " + std::to_string(r) + " refers to a later or negative id");
  }
  return detail::labelling_at_cut(single_linkage_tree, cut_distance, min_cluster_size);
}

result fit(const data_source& data, const params& p, const progress_fn& progress) {
  auto m = model::impl::run(borrowed(data), p, progress, model::impl::goal::clustering);
  result r;
  static_cast<clustering&>(r) = std::move(m->clusters);
  r.tree = std::move(m->tree);
  r.stats = std::move(m->stats);
  return r;
}

}  // namespace chutoro
