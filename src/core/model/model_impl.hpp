// chutoro — the state behind chutoro::model (include/chutoro/model.hpp) and
// the one pipeline that fills it (model.cpp), shared by model.cpp (fit, add,
// cluster, predict), model_file.cpp (save, load) and fit.cpp (chutoro::fit and
// build_spanning_tree are this pipeline, stopped earlier).
#pragma once

#include <chutoro/model.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/backend/backend.hpp"

namespace chutoro {

/// What approximate_predict needs from a clustering (hdbscan's PredictionData,
/// without the search structure): per item its condensed-tree parent and
/// lambda; per condensed-tree cluster (index id - n) its parent, birth lambda,
/// the label of the selected cluster it lies in (-1: none) and that selected
/// cluster's largest own lambda.
struct prediction_index {
  std::vector<std::int64_t> item_parent;
  std::vector<double> item_lambda;
  std::vector<std::int64_t> cluster_parent;
  std::vector<double> cluster_lambda;
  std::vector<std::int32_t> cluster_label;
  std::vector<double> cluster_max_lambda;
  // Soft clustering (hdbscan's PredictionData and prediction module).
  std::vector<std::int64_t> selected;      ///< the selected cluster of each label, ascending ids
  std::vector<double> own_max_lambda;      ///< per cluster: its own rows' largest lambda (leaf_max_lambdas)
  std::vector<double> subtree_max_lambda;  ///< per cluster: the largest lambda of its subtree
  bool has_child_clusters = false;         ///< the condensed tree has a cluster besides the root
  /// Per label: hdbscan's exemplars, the items of the leaves below the
  /// selected cluster (leaves depth first) leaving at their leaf's largest lambda.
  std::vector<std::vector<std::uint32_t>> exemplars;
};

struct model::impl {
  std::shared_ptr<data_source> data;
  params p;                                // p.build.min_samples always set (the effective k)
  detail::backend_choice backend;          // from p.build.device (or load / set_device)
  std::optional<detail::hnsw_state> hnsw;  // hnsw mode only
  spanning_tree tree;
  clustering clusters;
  prediction_index predict_index;
  fit_stats stats;

  /// How far a pipeline run goes, and what it keeps.
  enum class goal : int {
    tree = 0,        ///< the graph stage only (build_spanning_tree); the graph is freed
    clustering = 1,  ///< + extraction (chutoro::fit); the graph is freed before it
    model = 2,       ///< + the prediction index, the graph kept (chutoro::model)
  };

  /// The pipeline: checks the parameters (validate) and the data (null, n >=
  /// min_cluster_size unless goal is tree, n in [2, 2^32 - 2], min_samples <=
  /// n), resolves min_samples into p.build, selects the backend from
  /// p.build.device, runs the graph stage (hnsw or exact) on it inside its
  /// executor, then what `what` asks for. `data` is only read.
  static std::unique_ptr<impl> run(std::shared_ptr<data_source> data, const params& p,
                                   const progress_fn& progress, goal what);

  /// Makes `c` the backend of later stages (the candidate graph's solver too).
  void use_backend(detail::backend_choice c);
  /// The backend's executor with p.build.threads threads.
  [[nodiscard]] std::unique_ptr<detail::execution_scope> enter() const;
  /// The graph stage over all items of `data`: extends `hnsw` (hnsw mode) or
  /// builds the exact tree. Adds to `st` and records the device in it.
  [[nodiscard]] spanning_tree graph_stage(std::optional<detail::hnsw_state>& hnsw, fit_stats& st,
                                          const progress_fn& progress) const;
  /// Re-extracts clusters and the prediction index from `tree` with p.selection.
  void extract();
};

namespace detail {
/// Builds the prediction index of a clustering (n items) under `sp`.
prediction_index make_prediction_index(std::size_t n, const clustering& c, const selection_params& sp);
}  // namespace detail

}  // namespace chutoro
