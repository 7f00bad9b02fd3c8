// chutoro — a fitted FISHDBC model: the durable, growing object of
// Dell'Amico 2019 (arXiv:1910.07283), section 3.3 ("incremental"). It keeps
// what a fit computed (the data, the HNSW graph, the core-distance estimates
// and the minimum spanning forest) so that items can be added, selection
// parameters changed, new items predicted, and the whole saved and loaded.
//
//   model m(std::make_shared<dense_source>(x, n, d, dense_metric::euclidean), p);
//   m.add(dense_source(more, k, d, dense_metric::euclidean));   // FISHDBC update
//   m.cluster({.min_cluster_size = 20});                         // no rebuild
//   prediction q = m.approximate_predict(dense_source(y, r, d, dense_metric::euclidean));
//   m.save("blobs.chutoro");  model back = model::load("blobs.chutoro");
//
// The model file format is described in docs/model_format.md.
#pragma once

#include <chutoro/data_source.hpp>
#include <chutoro/fit.hpp>
#include <chutoro/params.hpp>
#include <chutoro/result.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

namespace chutoro {

/// Labels and probabilities of items that are not part of the model
/// (hdbscan.prediction.approximate_predict semantics).
struct prediction {
  std::vector<std::int32_t> labels;   ///< one per item, -1 = noise, else a label of clusters()
  std::vector<double> probabilities;  ///< one per item, in [0, 1]; 0 for noise
  /// One per item: hdbscan.prediction.approximate_predict_scores, the GLOSH
  /// score the item would have: (lambda_max - lambda) / lambda_max with
  /// lambda_max the largest lambda below the condensed-tree cluster its
  /// nearest mutual-reachability neighbour leaves (lambda from that
  /// neighbour; the neighbour's own lambda when the item duplicates a model
  /// item); 0 when lambda_max is 0, 1 for every item when the tree has no
  /// cluster besides the root. May be negative for items denser than the cluster.
  std::vector<double> outlier_scores;
  /// Columns of `membership`: clusters().n_clusters().
  std::size_t n_clusters = 0;
  /// Row-major items x n_clusters, filled only when soft membership was
  /// asked for: hdbscan.prediction.membership_vector (see model::approximate_predict).
  std::vector<double> membership;
};

/// A fitted model: chutoro's one pipeline (chutoro::fit is a model whose
/// clustering is taken). Not thread safe: concurrent calls need external
/// locking, except that const member functions may run concurrently with each
/// other. Every operation uses parameters().build.threads OpenMP threads; the
/// graph stages (fit, add, and the tree rebuilt by load) run on the backend
/// selected by the device (parameters().build.device, or load's argument).
class model {
 public:
  /// Fits on `data`, which the model keeps (it needs the items to add,
  /// predict and save) and appends to in add(): nothing else may change it.
  /// Errors: as chutoro::fit (device errors as chutoro::select_device).
  model(std::shared_ptr<data_source> data, const params& p, const progress_fn& progress = {});
  model(model&&) noexcept;
  model& operator=(model&&) noexcept;
  ~model();

  /// Adds the items of `items`, which get ids size()..size()+items.size()-1,
  /// and re-extracts clusters() with the current selection parameters.
  /// hnsw mode (FISHDBC's update): the new items are inserted into the HNSW
  /// graph, every distance computed doing so updates the core-distance
  /// estimates, and the new spanning tree is the minimum spanning tree of the
  /// kept candidate edges (the last compaction's forest, the edges harvested
  /// since, the new ones) under the current core distances (docs/incremental.md).
  /// exact mode: the exact tree is recomputed over all items (by kd-tree at
  /// low dimension: O(n log n); else all pairs). candidates = auto chooses
  /// again at the new size: an exact model that outgrows all-pairs gets an
  /// HNSW graph over all its items and is an hnsw model from then on.
  /// O(k log n) distance computations per item in hnsw mode.
  /// Errors: error(type_mismatch) when `items` is not of the model's kind,
  /// metric or dimension; error(unsupported) when the model's data cannot
  /// grow (plugin, precomputed and callable sources); error(invalid_argument)
  /// when the total would exceed 2^32 - 2 items. On error the model is unchanged.
  void add(const data_source& items, const progress_fn& progress = {});

  /// Re-extracts the clusters with new selection parameters from the same
  /// spanning tree (the graph is not touched) and keeps them as clusters()
  /// and parameters().selection. O(n log n). Errors: error(invalid_argument)
  /// for out-of-range parameters (the model is then unchanged).
  const clustering& cluster(const selection_params& sp);

  /// Labels and probabilities for items not in the model, without adding
  /// them (hdbscan's approximate_predict, McInnes et al., hdbscan docs
  /// "Predicting clusters for new points"): with k = min_samples (the item
  /// itself counting; hdbscan's min_samples is k - 1), each item's
  /// max(2 (k - 1), k) nearest model items are found (HNSW search with ef =
  /// ef_construction; brute force in exact mode); its core distance is the
  /// distance to the k-th of them; the neighbour with the smallest mutual
  /// reachability distance d picks the condensed-tree cluster the item joins
  /// at lambda = 1/d, and the item takes the label of the selected cluster
  /// there (or -1) and probability min(lambda, lambda_max) / lambda_max, with
  /// lambda_max the largest lambda of that selected cluster's own rows. Thread
  /// safe (const). Errors: error(type_mismatch) as add(); error(unsupported)
  /// when the model's data cannot measure distances to outside items.
  ///
  /// With `soft`, also the soft-clustering membership vectors (Campello et
  /// al. 2015, sec. 5.2 "soft clustering"; McInnes, hdbscan docs "Soft
  /// clustering", hdbscan.prediction.membership_vector): for each item and
  /// selected cluster c, with dist(c) the smallest distance to c's exemplars
  /// (see exemplars()), the distance part (1/dist(c), normalised over the
  /// clusters; DBL_MAX / k where dist(c) is 0) to the power 1/2 times the
  /// outlier part squared: softmax over c of lambda_max / (lambda_max -
  /// merge height of the item's cluster and c) (lambda_max of the item's
  /// cluster; a non-positive denominator is 1e-8), normalised, then scaled
  /// by the probability of being in some cluster (the largest merge height
  /// / (max(lambda, lambda_max of that cluster) + 1e-8)). O(exemplars)
  /// distances per item more.
  [[nodiscard]] prediction approximate_predict(const data_source& items, bool soft = false) const;

  /// Soft-clustering membership of the model's own items
  /// (hdbscan.prediction.all_points_membership_vectors), row-major size() x
  /// clusters().n_clusters(), rows summing to the item's probability of
  /// being in some cluster: distance part (as approximate_predict's) times
  /// the outlier part exp(-(lambda_max + 1e-8) / merge height) softmaxed, the
  /// product normalised and scaled by the merge height / max(lambda,
  /// lambda_max of the nearest cluster). Empty when there is no cluster.
  /// O(n x exemplars) distances, on parameters().build.threads threads.
  /// Thread safe (const). Errors: those of the data source's distance.
  [[nodiscard]] std::vector<double> all_points_membership_vectors() const;

  /// hdbscan's exemplars_ as item ids, one list per cluster label: the items
  /// of the leaf clusters below the selected cluster (leaves depth first,
  /// children in condensed-tree row order) that leave their leaf at its
  /// largest lambda (its densest items), in row order.
  [[nodiscard]] const std::vector<std::vector<std::uint32_t>>& exemplars() const noexcept;

  /// Threads for later add / cluster / approximate_predict calls (0: the
  /// OpenMP default). Results do not depend on it. Not stored in model files.
  void set_threads(int threads) noexcept;
  /// Device for later add calls (selected now, as chutoro::select_device;
  /// parameters().build.device becomes `device`). Results do not depend on
  /// it. Not stored in model files. Errors: as select_device (the model is
  /// then unchanged).
  void set_device(device_kind device);
  /// The device the model's graph stages run on (cpu or cuda).
  [[nodiscard]] device_kind device() const noexcept;

  [[nodiscard]] std::size_t size() const noexcept;
  /// The parameters; build.min_samples is always set (the effective k).
  [[nodiscard]] const params& parameters() const noexcept;
  [[nodiscard]] const data_source& data() const noexcept;
  /// The spanning tree (core distances, edges) the clusters come from.
  [[nodiscard]] const spanning_tree& tree() const noexcept;
  /// The current flat clustering and its trees.
  [[nodiscard]] const clustering& clusters() const noexcept;
  /// Counters and times of the last fit or add (zero after load, except
  /// candidates, the mode stored in the file, and device and
  /// device_fallback_reason: the device load selected).
  [[nodiscard]] const fit_stats& stats() const noexcept;

  /// Writes the model file atomically: a temporary file in the same
  /// directory, fsync, rename over `path`, fsync of the directory. An
  /// interrupted save leaves the previous file intact. Errors: error(io)
  /// naming the path and the failing step (when only the final directory
  /// fsync fails, the new file is already in place).
  void save(const std::filesystem::path& path) const;
  /// The model file's bytes (what save() writes), e.g. for pickling.
  [[nodiscard]] std::vector<std::byte> to_bytes() const;

  /// Reads a model file. `data` is required for models whose data is not
  /// stored in the file (plugin, precomputed, callable sources): it must be
  /// the same data, checked by the fingerprint stored at save time; for other
  /// models it must be null. The file stores no device: the model runs on
  /// `device` (build_params::device's meaning, CHUTORO_DEVICE included),
  /// selected before the file is read; it also rebuilds the spanning tree of
  /// an hnsw model. Errors: error(io) when the file cannot be read;
  /// error(parse) naming the file, section and problem for a truncated,
  /// corrupted (checksum), wrong-version or wrong-endianness file;
  /// error(invalid_argument) for a missing or mismatching `data`; device
  /// errors as chutoro::select_device.
  static model load(const std::filesystem::path& path, std::shared_ptr<data_source> data = nullptr,
                    device_kind device = device_kind::auto_select);
  /// As load(), from bytes; `what` names the input in error messages.
  static model from_bytes(std::span<const std::byte> bytes, std::shared_ptr<data_source> data = nullptr,
                          std::string_view what = "model bytes",
                          device_kind device = device_kind::auto_select);

  struct impl;

 private:
  explicit model(std::unique_ptr<impl> p);
  std::unique_ptr<impl> p_;
};

}  // namespace chutoro
