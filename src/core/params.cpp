#include <chutoro/error.hpp>
#include <chutoro/params.hpp>
#include <cmath>
#include <string>

namespace chutoro {

cluster_selection_method parse_cluster_selection_method(std::string_view s) {
  if (s == "eom") return cluster_selection_method::eom;
  if (s == "leaf") return cluster_selection_method::leaf;
  throw error(error_code::invalid_argument,
              "cluster_selection_method: unknown value '" + std::string(s) + "' (expected eom or leaf)");
}

candidate_mode parse_candidate_mode(std::string_view s) {
  if (s == "hnsw") return candidate_mode::hnsw;
  if (s == "exact") return candidate_mode::exact;
  if (s == "auto") return candidate_mode::auto_select;
  if (s == "knn") return candidate_mode::knn;
  throw error(error_code::invalid_argument,
              "candidates: unknown value '" + std::string(s) + "' (expected auto, hnsw, exact or knn)");
}

device_kind parse_device_kind(std::string_view s) {
  if (s == "auto") return device_kind::auto_select;
  if (s == "cpu") return device_kind::cpu;
  if (s == "cuda") return device_kind::cuda;
  throw error(error_code::invalid_argument,
              "device: unknown value '" + std::string(s) + "' (expected auto, cpu or cuda)");
}

std::string_view to_string(device_kind d) noexcept {
  switch (d) {
    case device_kind::cpu:
      return "cpu";
    case device_kind::cuda:
      return "cuda";
    case device_kind::auto_select:
      break;
  }
  return "auto";
}

std::string_view to_string(cluster_selection_method m) noexcept {
  return m == cluster_selection_method::leaf ? "leaf" : "eom";
}

std::string_view to_string(candidate_mode m) noexcept {
  switch (m) {
    case candidate_mode::exact:
      return "exact";
    case candidate_mode::auto_select:
      return "auto";
    case candidate_mode::knn:
      return "knn";
    case candidate_mode::hnsw:
      break;
  }
  return "hnsw";
}

void validate(const params& p) {
  const auto& b = p.build;
  const auto& s = p.selection;
  expects(s.min_cluster_size >= 2, error_code::invalid_argument,
          "min_cluster_size must be >= 2 (got " + std::to_string(s.min_cluster_size) + ")");
  expects(!b.min_samples || *b.min_samples >= 1, error_code::invalid_argument,
          "min_samples must be >= 1 (got " + std::to_string(b.min_samples.value_or(0)) + ")");
  expects(std::isfinite(s.cluster_selection_epsilon) && s.cluster_selection_epsilon >= 0.0,
          error_code::invalid_argument,
          "cluster_selection_epsilon must be a finite number >= 0 (got " +
              std::to_string(s.cluster_selection_epsilon) + ")");
  expects(std::isfinite(s.cluster_selection_persistence) && s.cluster_selection_persistence >= 0.0,
          error_code::invalid_argument,
          "cluster_selection_persistence must be a finite number >= 0 (got " +
              std::to_string(s.cluster_selection_persistence) + ")");
  expects(!std::isnan(s.cluster_selection_epsilon_max) &&
              s.cluster_selection_epsilon_max >= s.cluster_selection_epsilon,
          error_code::invalid_argument,
          "cluster_selection_epsilon_max must be >= cluster_selection_epsilon (got " +
              std::to_string(s.cluster_selection_epsilon_max) + " < " +
              std::to_string(s.cluster_selection_epsilon) + ")");
  namespace lim = param_limits;
  expects(b.m >= lim::min_m && b.m <= lim::max_m, error_code::invalid_argument,
          "m (HNSW links per node) must be in [" + std::to_string(lim::min_m) + ", " +
              std::to_string(lim::max_m) + "] (got " + std::to_string(b.m) + ")");
  expects(b.ef_construction >= lim::min_ef_construction && b.ef_construction <= lim::max_ef_construction,
          error_code::invalid_argument,
          "ef_construction must be in [" + std::to_string(lim::min_ef_construction) + ", " +
              std::to_string(lim::max_ef_construction) + "] (got " + std::to_string(b.ef_construction) + ")");
  expects(b.threads >= 0, error_code::invalid_argument,
          "threads must be >= 0, 0 meaning all cores (got " + std::to_string(b.threads) + ")");
  expects(b.batch_size >= 1, error_code::invalid_argument, "batch_size must be >= 1");
  expects(b.compaction_factor >= 1 && b.compaction_factor <= lim::max_compaction_factor,
          error_code::invalid_argument,
          "compaction_factor must be in [1, 2^16] (got " + std::to_string(b.compaction_factor) + ")");
  expects(b.compaction_min_edges <= lim::max_compaction_min_edges, error_code::invalid_argument,
          "compaction_min_edges must be <= 2^32 (got " + std::to_string(b.compaction_min_edges) + ")");
  expects(b.candidates == candidate_mode::hnsw || b.candidates == candidate_mode::exact ||
              b.candidates == candidate_mode::auto_select || b.candidates == candidate_mode::knn,
          error_code::invalid_argument,
          "candidates must be auto, hnsw, exact or knn (got the value " +
              std::to_string(static_cast<int>(b.candidates)) + ")");
  expects(
      b.device == device_kind::auto_select || b.device == device_kind::cpu || b.device == device_kind::cuda,
      error_code::invalid_argument,
      "device must be auto, cpu or cuda (got the value " + std::to_string(static_cast<int>(b.device)) + ")");
}

}  // namespace chutoro
