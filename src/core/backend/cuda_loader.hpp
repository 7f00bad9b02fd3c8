// chutoro — the host side of the CUDA module: finding and loading
// libchutoro_cuda.so (dlopen), checking the v-table it returns
// (src/cuda/cuda_module.h, the same discipline as plugin.h) and calling it,
// with every failure a chutoro::error whose message starts "device cuda: ".
// Host code only (g++): nothing here includes or links CUDA, so it builds and
// runs on machines without CUDA (the sanitizer builds, CHUTORO_WITH_CUDA=OFF).
#pragma once

#include <chutoro/devices.hpp>
#include <chutoro/error.hpp>
#include <chutoro/result.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/mst/candidate_graph.hpp"
#include "cuda/cuda_module.h"

namespace chutoro::detail {

/// Why the CUDA module or a GPU cannot be used, or how a call failed.
enum class cuda_status : int {
  ok = 0,
  library_not_found = 1,           ///< no libchutoro_cuda.so where the loader looks
  library_invalid = 2,             ///< not loadable, no entry point, another ABI version, a bad v-table
  no_driver = 3,                   ///< libcuda.so.1 (the NVIDIA driver) cannot be loaded
  driver_too_old = 4,              ///< the driver is older than the module's CUDA runtime
  no_device = 5,                   ///< the driver sees no CUDA device
  compute_capability_too_low = 6,  ///< no device the module has code for
  out_of_memory = 7,               ///< not enough free device (or host) memory for the stage
  failed = 8,                      ///< any other failure: a CUDA error, a bad argument, a module bug
};

/// Whether `s` says that no GPU can be used at all (statuses 1-6): where
/// device "auto" falls back to the CPU.
constexpr bool gpu_unavailable(cuda_status s) noexcept {
  return s != cuda_status::ok && s != cuda_status::out_of_memory && s != cuda_status::failed;
}

/// What the CUDA wrappers throw: a chutoro::error whose message is
/// "device cuda: " + reason(), with the status. Error codes: invalid_argument
/// for a bad argument, internal for a module bug or an unexpected CUDA error,
/// unsupported for the rest (statuses 1-7). Immutable.
class cuda_error : public error {
 public:
  cuda_error(cuda_status status, error_code code, const std::string& reason)
      : error(code, "device cuda: " + reason), status_(status), reason_(reason) {}
  [[nodiscard]] cuda_status status() const noexcept { return status_; }
  /// The message without its "device cuda: " prefix.
  [[nodiscard]] const std::string& reason() const noexcept { return reason_; }

 private:
  cuda_status status_;
  std::string reason_;
};

/// A loaded CUDA module. Every method may be called from several threads at
/// once (the module's functions are thread safe; the CUDA runtime's current
/// device is per thread and restored after each call).
class cuda_module {
 public:
  /// Loads `file` (a path; RTLD_NOW | RTLD_LOCAL, never unmapped: the CUDA
  /// runtime inside must not be unloaded), calls its entry point and checks
  /// the v-table. Touches neither driver nor device. Throws cuda_error:
  /// library_not_found when the file does not exist, library_invalid when
  /// it is not a chutoro CUDA module of this ABI version (naming the file).
  explicit cuda_module(const std::filesystem::path& file);
  ~cuda_module();
  cuda_module(const cuda_module&) = delete;
  cuda_module& operator=(const cuda_module&) = delete;

  [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }
  [[nodiscard]] std::uint32_t caps() const noexcept { return vt_.caps; }
  /// Every stage gives bit-identical results run to run (CHUTORO_CUDA_DETERMINISTIC).
  [[nodiscard]] bool deterministic() const noexcept { return (vt_.caps & CHUTORO_CUDA_DETERMINISTIC) != 0; }
  [[nodiscard]] bool has_spanning_forest() const noexcept {
    return (vt_.caps & CHUTORO_CUDA_STAGE_SPANNING_FOREST) != 0;
  }
  [[nodiscard]] bool has_exact_tree() const noexcept {
    return (vt_.caps & CHUTORO_CUDA_STAGE_EXACT_TREE) != 0;
  }
  [[nodiscard]] bool has_knn_tree() const noexcept { return (vt_.caps & CHUTORO_CUDA_STAGE_KNN_TREE) != 0; }
  /// The CUDA runtime inside, 1000 * major + 10 * minor.
  [[nodiscard]] int runtime_version() const noexcept { return vt_.runtime_version; }
  /// The oldest compute capability it has code for, 10 * major + minor.
  [[nodiscard]] int min_compute_capability() const noexcept { return vt_.min_compute_capability; }
  [[nodiscard]] const std::string& build_info() const noexcept { return build_info_; }

  /// {driver, runtime} versions; driver 0 where there is no driver (not an error).
  [[nodiscard]] std::pair<int, int> versions() const;
  /// Number of CUDA devices (>= 1). Throws cuda_error (no_driver,
  /// driver_too_old, no_device, failed) saying why there is none.
  [[nodiscard]] int device_count() const;
  /// Device `index`'s properties, versions included. Throws cuda_error.
  [[nodiscard]] device_info device(int index) const;
  /// The device a stage runs on: `requested` when >= 0 (checked), else the
  /// first device the module has code for. Throws cuda_error: the reasons
  /// of device_count, or compute_capability_too_low naming the devices.
  [[nodiscard]] int pick_device(int requested = -1) const;

  /// The minimum spanning forest of `edges` and `more` on items 0..n-1 under
  /// mutual reachability max(core[a], core[b], d) (plain d when `core` is
  /// empty; else n values), computed on `device`: the same edges, in the
  /// same order, as detail::minimum_spanning_forest on the CPU (unique:
  /// ties broken by (a, b, d)). Throws cuda_error: unsupported when the module
  /// has no such stage, out_of_memory with the bytes needed and free, the
  /// device reasons above, invalid_argument for an item id >= n.
  [[nodiscard]] std::vector<raw_edge> spanning_forest(int device, std::size_t n,
                                                      std::span<const raw_edge> edges,
                                                      std::span<const raw_edge> more,
                                                      std::span<const float> core) const;

  /// Exact HDBSCAN* of n dense float32 rows (row i at rows[i * stride], the
  /// rows a dense_source / product_source stores) under `metric`
  /// (CHUTORO_CUDA_METRIC_*) with min_samples (1..n), on `device`: the
  /// spanning_tree cpu_backend::build_exact computes (core distances; n - 1
  /// edges a < b under mutual reachability, sorted by (distance, a, b)), up
  /// to float32 rounding of the distances (src/cuda/exact.cuh). `progress`
  /// (may be empty) is called between tiles with ("core distances" | "mst",
  /// done, total); what it throws is rethrown here after the module has
  /// stopped. Throws cuda_error: unsupported when the module has no such
  /// stage, out_of_memory with the bytes needed and free, the device reasons
  /// above, invalid_argument for bad shapes.
  [[nodiscard]] spanning_tree exact_tree(
      int device, std::span<const float> rows, std::size_t n, std::size_t dim, std::size_t stride,
      std::int32_t metric, std::size_t min_samples,
      const std::function<void(std::string_view, std::size_t, std::size_t)>& progress) const;

  /// GPU candidates for FISHDBC (src/cuda/knn.cuh) on the rows, metrics and
  /// device of exact_tree: the exact kNN graph (k = min(n - 1,
  /// max(min_samples - 1, k_graph, 1)); k_graph 0: 2 min_samples), its minimum
  /// spanning forest under mutual reachability, its components joined by
  /// exact lightest cross-component edges; the same spanning_tree shape as
  /// exact_tree (exact core distances; an approximate tree).
  /// *knn_components (may be null): the kNN graph's components. Progress
  /// ("knn", "mst") and throws as exact_tree's (unsupported when the module
  /// lacks CHUTORO_CUDA_STAGE_KNN_TREE).
  [[nodiscard]] spanning_tree knn_tree(
      int device, std::span<const float> rows, std::size_t n, std::size_t dim, std::size_t stride,
      std::int32_t metric, std::size_t min_samples, std::size_t k_graph, std::size_t* knn_components,
      const std::function<void(std::string_view, std::size_t, std::size_t)>& progress) const;

 private:
  void adopt(const chutoro_cuda_v3* vt);
  [[nodiscard]] spanning_tree checked_tree(const char* call, std::size_t n, std::vector<float>&& core,
                                           const std::vector<raw_edge>& edges) const;
  [[noreturn]] void fail(const std::string& what, std::int32_t status, const char* message) const;

  void* handle_ = nullptr;
  chutoro_cuda_v3 vt_{};
  std::filesystem::path file_;
  std::string build_info_;
};

/// The module's status code as a cuda_status (unknown codes: failed).
cuda_status status_of(std::int32_t module_status) noexcept;

/// Where load_cuda_module looks, in order: CHUTORO_CUDA_LIBRARY alone when
/// it is set and not empty; else libchutoro_cuda.so in the folder of the
/// executable or shared object this code is linked into (the chutoro CLI,
/// the Python extension chutoro/_core*.so, libchutoro.so), then in
/// <that folder>/../<libdir>, then in the install libdir.
std::vector<std::filesystem::path> cuda_module_candidates();

/// The module, loaded on the first call (thread safe; the result, module or
/// failure, is kept for the life of the process): the first candidate that
/// exists is loaded, and a failure to load it is the answer (no fallback to
/// the next). nullptr when none could be loaded, with why in *reason (no
/// "device cuda: " prefix) and *status (library_not_found,
/// library_invalid). Throws only std::bad_alloc.
const cuda_module* load_cuda_module(std::string* reason = nullptr, cuda_status* status = nullptr);

/// load_cuda_module's module, or cuda_error with its reason.
const cuda_module& require_cuda_module();

/// What list_devices() reports for `module`: its devices, or none and why
/// (the module's reason for each failure). Throws only std::bad_alloc.
device_list describe_devices(const cuda_module& module);

}  // namespace chutoro::detail
