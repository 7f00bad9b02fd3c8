// chutoro — clustering parameters, with HDBSCAN*'s names and defaults
// (hdbscan.HDBSCAN / sklearn.cluster.HDBSCAN) plus FISHDBC's HNSW knobs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

namespace chutoro {

/// How flat clusters are chosen from the condensed tree (stable values).
enum class cluster_selection_method : int {
  eom = 0,   ///< excess of mass (Campello et al. 2013, section 4.1)
  leaf = 1,  ///< the leaves of the condensed cluster tree
};

/// Where candidate edges for the minimum spanning tree come from (stable values).
enum class candidate_mode : int {
  hnsw = 0,  ///< FISHDBC: every distance computed while building the HNSW graph
  /// Reproduces HDBSCAN* exactly: a kd-tree (Borůvka) for dense euclidean or
  /// manhattan data at low dimension, else all n(n-1)/2 pairs, O(n^2) time.
  exact = 1,
  /// Chosen from the data at each graph stage (docs/algorithm.md, "candidates
  /// = auto"): exact by kd-tree for dense euclidean/manhattan data of low
  /// dimension, exact all-pairs for small n, hnsw otherwise. fit_stats::candidates
  /// reports the choice. A model whose choice was exact chooses again when
  /// add() grows it and may turn hnsw (then stays hnsw).
  auto_select = 2,
  /// GPU candidates for FISHDBC at scale (device = cuda only; docs/gpu.md):
  /// the exact k-nearest-neighbour graph of dense float32 rows (k = 2
  /// min_samples) by tiles on the GPU, its minimum spanning forest, the
  /// components left joined by their exact lightest edges. Exact core
  /// distances, an approximate tree (ARI vs exact >= 0.99 in the tests).
  /// On the CPU backend (device = cpu, or auto: never chosen by auto)
  /// error(unsupported) says so.
  knn = 3,
};

/// Where the graph stage runs (stable values, shared with the CLI's --device
/// and Python's device=). Every device gives the CPU's result bit for bit.
enum class device_kind : int {
  /// Chosen at run time: the CHUTORO_DEVICE environment variable when it is
  /// set (auto, cpu or cuda; an explicit cpu or cuda parameter wins over it),
  /// else a GPU stage only where it passed the promotion gate (measured at
  /// least 2x faster than the CPU at the same result) and a GPU can be used,
  /// else the CPU. fit_stats says which device ran and, for a fallback, why.
  auto_select = 0,
  cpu = 1,   ///< the CPU (OpenMP threads)
  cuda = 2,  ///< an NVIDIA GPU through the CUDA backend; error(unsupported) naming why when none can be used
};

cluster_selection_method parse_cluster_selection_method(std::string_view s);
candidate_mode parse_candidate_mode(std::string_view s);
/// "auto" | "cpu" | "cuda"; error(invalid_argument) otherwise.
device_kind parse_device_kind(std::string_view s);
std::string_view to_string(cluster_selection_method m) noexcept;
std::string_view to_string(candidate_mode m) noexcept;
/// "auto", "cpu", "cuda".
std::string_view to_string(device_kind d) noexcept;

/// Parameters of the graph stage: they fix the minimum spanning tree.
struct build_params {
  /// k of the core distance: the distance to the k-th nearest item, the item
  /// itself counting as the first (hdbscan / scikit-learn convention). Empty:
  /// use min_cluster_size. Must be >= 1.
  std::optional<std::size_t> min_samples;
  candidate_mode candidates = candidate_mode::auto_select;
  /// HNSW: links per node on layers >= 1 (layer 0 keeps 2m). Must be >= 2.
  std::size_t m = 16;
  /// HNSW: size of the dynamic candidate list while inserting. Must be >= 1.
  std::size_t ef_construction = 100;
  /// Seed of the HNSW level draw; the same seed gives the same result.
  std::uint64_t seed = 42;
  /// Worker threads; 0 = the OpenMP default (all cores). The result does not
  /// depend on it: for a fixed seed the build is bit-identical for any thread count.
  int threads = 0;
  /// Largest insertion batch of the parallel HNSW build (docs/algorithm.md):
  /// items of one batch search the graph as it was before the batch and see
  /// each other only through direct distances. Must be >= 1.
  std::size_t batch_size = 32;
  /// FISHDBC compaction: candidate edges are reduced to the minimum spanning
  /// forest whenever more than max(compaction_min_edges, compaction_factor * n_inserted)
  /// new edges are buffered. Bounds candidate-edge memory (see docs/algorithm.md).
  /// compaction_factor must be in [1, 2^16], compaction_min_edges <= 2^32.
  std::size_t compaction_factor = 3;
  std::size_t compaction_min_edges = std::size_t{1} << 20;
  /// Where the graph stage runs (see device_kind). Like threads, it never
  /// changes the result and is not stored in model files.
  device_kind device = device_kind::auto_select;
};

/// Parameters of the selection stage: cheap, can change without rebuilding.
struct selection_params {
  /// Smallest size a group must have to be a cluster. Must be >= 2.
  std::size_t min_cluster_size = 5;
  cluster_selection_method method = cluster_selection_method::eom;
  /// Clusters split below this mutual-reachability distance are merged back
  /// (Malzer & Baum 2020, HDBSCAN(epsilon-hat)). Must be >= 0.
  double cluster_selection_epsilon = 0.0;
  /// Allow the root to be selected as the only cluster.
  bool allow_single_cluster = false;
  /// eom only: a cluster of more items than this is never selected (its
  /// children are considered instead; hdbscan 0.8.40's max_cluster_size).
  /// 0 = no limit.
  std::size_t max_cluster_size = 0;
  /// Leaf clusters whose persistence (birth lambda - death lambda of the
  /// split that made them) is below this are merged into their parent before
  /// selection, which changes the condensed tree (hdbscan's
  /// simplify_hierarchy). Must be >= 0; 0 = off.
  double cluster_selection_persistence = 0.0;
  /// eom only: a cluster born at a mutual-reachability distance above this is
  /// never selected (hdbscan's cluster_selection_epsilon_max). Must be >=
  /// cluster_selection_epsilon; infinity = no limit.
  double cluster_selection_epsilon_max = std::numeric_limits<double>::infinity();
};

/// All parameters of one fit.
struct params {
  build_params build;
  selection_params selection;

  /// The effective core-distance k: build.min_samples or min_cluster_size.
  [[nodiscard]] std::size_t min_samples() const noexcept {
    return build.min_samples.value_or(selection.min_cluster_size);
  }
};

/// The ranges validate() enforces, which a model file's PARM section must
/// satisfy too (docs/model_format.md).
namespace param_limits {
inline constexpr std::size_t min_m = 2, max_m = 1024;
inline constexpr std::size_t min_ef_construction = 1, max_ef_construction = 100000;
inline constexpr std::size_t max_compaction_factor = std::size_t{1} << 16;
inline constexpr std::size_t max_compaction_min_edges = std::size_t{1} << 32;
/// The most items a model or a fit holds (item ids are 32-bit, one value spare).
inline constexpr std::size_t max_items = 0xFFFFFFFEu;
}  // namespace param_limits

/// Throws error(invalid_argument) naming the parameter when any value is out of range.
void validate(const params& p);

}  // namespace chutoro
