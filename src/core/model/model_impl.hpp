// chutoro — the state behind chutoro::model (include/chutoro/model.hpp),
// shared by model.cpp (fit, add, cluster, predict) and model_file.cpp (save, load).
#pragma once

#include <chutoro/model.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/build.hpp"

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
};

struct model::impl {
  std::shared_ptr<data_source> data;
  params p;                                // p.build.min_samples always set (the effective k)
  std::optional<detail::hnsw_state> hnsw;  // hnsw mode only
  spanning_tree tree;
  clustering clusters;
  prediction_index predict_index;
  fit_stats stats;

  /// Re-extracts clusters and the prediction index from `tree` with p.selection.
  void extract();
};

namespace detail {
/// Builds the prediction index of a clustering (n items) under `sp`.
prediction_index make_prediction_index(std::size_t n, const clustering& c, const selection_params& sp);
}  // namespace detail

}  // namespace chutoro
