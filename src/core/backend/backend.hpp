// chutoro — the backend: the one seam between the pipeline (chutoro::model,
// src/core/model/) and the hardware it runs on (DESIGN.md section 4, "One
// pipeline, one seam"). A backend owns, for the stages it is asked to run:
//
//   executor             the threads of a call (execution_scope)
//   candidate generator  FISHDBC's HNSW build + harvest (extend_hnsw) and the
//                        exact mode's all-pairs core distances + tree (build_exact),
//                        GPU kNN candidates (build_knn, CUDA backend only)
//   spanning-forest      compactions and final trees of the candidate graph
//     solver             (forest_solver, src/core/mst/candidate_graph.hpp)
//   distance tiles       rows x cols blocks of distances (distance_tile)
//
// The pipeline asks the backend once per stage, never per pair: the
// candidate generators stay templated on the concrete distance
// (distance_dispatch.hpp), so kernels inline as before.
//
// One selection function, select_backend(), turns build_params::device (and
// CHUTORO_DEVICE) into a backend. The CUDA backend (cuda_backend.cpp; its
// kernels live in libchutoro_cuda.so, loaded at run time) derives from
// cpu_backend, overrides the stages it runs on the GPU (the spanning-forest
// solver; the exact mode of dense float32 sources), and is returned by
// select_backend only — for `auto`, only for stages that passed the
// promotion gate.
//
// Every backend gives the CPU's results bit for bit (trees, core distances,
// labels); only speed and memory may differ. Thread safety: backends are
// immutable after construction and shared (std::shared_ptr) between models.
#pragma once

#include <chutoro/data_source.hpp>
#include <chutoro/fit.hpp>
#include <chutoro/params.hpp>
#include <chutoro/result.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/hnsw/hnsw.hpp"
#include "core/mst/candidate_graph.hpp"

namespace chutoro::detail {

/// What hnsw mode keeps between calls: the graph (items 0..graph.inserted-1
/// are linked) and the candidate graph (core-distance estimates, forest).
struct hnsw_state {
  hnsw_graph graph;
  candidate_graph candidates;
  /// Empty state for bp (bp.min_samples must be set: the effective k), whose
  /// compactions and trees `solver` solves (the backend's).
  hnsw_state(const build_params& bp, std::shared_ptr<const forest_solver> solver);
};

/// A backend's hold on the threads (and device) of one call: alive while the
/// call runs, undone when destroyed.
class execution_scope {
 public:
  virtual ~execution_scope() = default;
};

/// The backend interface (see the file comment). All members are const and
/// may run concurrently on different models.
class backend : public forest_solver {
 public:
  ~backend() override = default;

  /// The device this backend runs its stages on (never auto_select).
  [[nodiscard]] virtual device_kind device() const noexcept = 0;

  // ---- executor
  /// Runs the calling thread's next parallel regions on `threads` threads (0:
  /// the OpenMP default) until the scope dies. Not thread safe with respect
  /// to other scopes on the same thread (they nest like OpenMP's ICVs).
  [[nodiscard]] virtual std::unique_ptr<execution_scope> enter(int threads) const = 0;

  // ---- candidate generators
  /// Inserts items s.graph.inserted..data.size()-1 of `data` in a seeded
  /// random order (FISHDBC, Dell'Amico 2019, sections 3.2-3.3), harvesting
  /// every computed distance into s.candidates, and returns the spanning
  /// tree of all items under the current core distances. Adds to `stats`.
  /// Runs inside an execution_scope. Throws what the distance throws; `s` is
  /// then unusable.
  [[nodiscard]] virtual spanning_tree extend_hnsw(hnsw_state& s, const data_source& data,
                                                  const build_params& bp, fit_stats& stats,
                                                  const progress_fn& progress) const = 0;
  /// extend_hnsw without its kNN refinement and without the tree: inserts
  /// items s.graph.inserted..data.size()-1 so that they find their nearest
  /// items among those already there (the distributed fit's boundary
  /// queries), harvesting as extend_hnsw does. The refinement already ran
  /// for the items there; running it again would search them again. Adds to
  /// `stats`. Same contract otherwise.
  virtual void insert_hnsw(hnsw_state& s, const data_source& data, const build_params& bp,
                           fit_stats& stats) const = 0;
  /// The exact mode (Campello et al. 2013): exact core distances (k =
  /// *bp.min_samples) and the minimum spanning tree of the complete graph
  /// under mutual reachability. O(n^2) distances; the CPU backend uses a
  /// kd-tree instead where exact_tree_preferred (src/core/mst/exact_tree.hpp),
  /// with the same result. Adds to `stats`.
  [[nodiscard]] virtual spanning_tree build_exact(const data_source& data, const build_params& bp,
                                                  fit_stats& stats, const progress_fn& progress) const = 0;
  /// GPU candidates (candidates = knn, src/cuda/knn.cuh): exact core
  /// distances and the spanning tree of the exact kNN graph joined across its
  /// components. Only the CUDA backend has it; this default throws
  /// error(unsupported) naming the device to use.
  [[nodiscard]] virtual spanning_tree build_knn(const data_source& data, const build_params& bp,
                                                fit_stats& stats, const progress_fn& progress) const;

  // ---- distance tiles
  /// out[r * cols.size() + c] = d(rows[r], cols[c]) for the items of `data`
  /// (ids < data.size(), unchecked); 0 where rows[r] == cols[c], without
  /// measuring. out.size() == rows.size() * cols.size(). Values are exactly
  /// those of the pipeline's per-pair distance. Thread safe: concurrent calls
  /// on different `out` are allowed. Throws what the distance throws
  /// (error(invalid_argument) naming the pair for a NaN/negative distance of
  /// an external source).
  virtual void distance_tile(const data_source& data, std::span<const std::uint32_t> rows,
                             std::span<const std::uint32_t> cols, std::span<float> out) const = 0;

  // ---- spanning-forest solver: forest_solver::minimum_spanning_forest and compact.
};

/// The CPU backend: OpenMP threads, the templated HNSW and exact Prim, the
/// Filter-Kruskal forest solver, per-pair kernels for tiles. Not final: a
/// device backend derives from it and overrides the stages it runs.
class cpu_backend : public backend {
 public:
  [[nodiscard]] device_kind device() const noexcept override { return device_kind::cpu; }
  [[nodiscard]] std::unique_ptr<execution_scope> enter(int threads) const override;
  [[nodiscard]] spanning_tree extend_hnsw(hnsw_state& s, const data_source& data, const build_params& bp,
                                          fit_stats& stats, const progress_fn& progress) const override;
  void insert_hnsw(hnsw_state& s, const data_source& data, const build_params& bp,
                   fit_stats& stats) const override;
  [[nodiscard]] spanning_tree build_exact(const data_source& data, const build_params& bp, fit_stats& stats,
                                          const progress_fn& progress) const override;
  void distance_tile(const data_source& data, std::span<const std::uint32_t> rows,
                     std::span<const std::uint32_t> cols, std::span<float> out) const override;
  [[nodiscard]] std::vector<raw_edge> minimum_spanning_forest(std::size_t n, std::span<const raw_edge> edges,
                                                              std::span<const raw_edge> more,
                                                              std::span<const float> core) const override;
  [[nodiscard]] std::vector<raw_edge> compact(std::size_t n, std::vector<raw_edge>&& edges,
                                              std::vector<raw_edge>&& more,
                                              std::span<const float> core) const override;
};

/// The CPU backend every CPU selection shares.
[[nodiscard]] std::shared_ptr<const backend> shared_cpu_backend();

/// The outcome of select_backend.
struct backend_choice {
  std::shared_ptr<const backend> ptr;     ///< the backend; never null
  device_kind device = device_kind::cpu;  ///< = backend->device()
  std::string fallback_reason;            ///< why auto runs on the CPU; empty otherwise
};

/// The device a request resolves to before availability is considered:
/// `requested` itself when it is cpu or cuda (an explicit parameter wins);
/// for auto_select, the CHUTORO_DEVICE environment variable when it is set
/// and not empty ("auto", "cpu" or "cuda"), else auto_select. Throws
/// error(invalid_argument) naming CHUTORO_DEVICE for any other value.
[[nodiscard]] device_kind resolve_device_request(device_kind requested);

/// The backend for `requested` (build_params::device), after
/// resolve_device_request:
///  - cpu: the CPU backend;
///  - cuda: the CUDA backend, every GPU-capable stage on the GPU, or
///    error(unsupported) naming why no GPU can be used (this build: it was
///    built without the CUDA backend);
///  - auto: the CUDA backend restricted to the stages that passed the
///    promotion gate (measured at least 2x faster than the CPU at the same
///    result) when a GPU can be used and one stage passed; otherwise the CPU
///    backend, with the reason in fallback_reason (auto_fallback_reason
///    while no stage has passed the gate).
/// Thread safe.
[[nodiscard]] backend_choice select_backend(device_kind requested);

// ---- the CUDA backend (cuda_backend.cpp)
/// Why `auto` stays on the CPU while no GPU stage has passed the promotion gate.
extern const char* const auto_fallback_reason;
/// The CUDA backend on the first usable device: the CPU backend with the GPU
/// spanning-forest solver and the GPU exact mode (dense float32 sources:
/// euclidean, cosine, manhattan, inner_product, angular; distances equal the
/// CPU's up to float32 rounding, docs/gpu.md). Throws cuda_error (error_code unsupported,
/// "device cuda: <why>") when the module or a usable device is missing.
[[nodiscard]] std::shared_ptr<const backend> make_cuda_backend();
/// The CUDA backend restricted to promoted stages, or null with *reason (the
/// gate, or "no usable GPU: <why>"); rethrows device failures other than "no GPU".
[[nodiscard]] std::shared_ptr<const backend> promoted_cuda_backend(std::string* reason);

}  // namespace chutoro::detail
