// chutoro — the plan of the GPU kNN-candidates stage (src/cuda/knn.cuh):
// neighbours per item, rows per heap block and the device bytes the stage
// needs, as plain constexpr C++ (no Thrust, no CUDA), so that host code (the
// stage's driver in knn.cu, chutoro_cuda_bench, the tests) computes the same
// figures that knn_hdbscan allocates by. The account is knn.cuh's file
// comment and docs/gpu.md ("Device memory" under GPU kNN candidates).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace chutoro::cuda_detail {

/// The heap budget the module's tree stages (tree_stage.cuh) give a stage
/// with `room` bytes of usable device memory: a quarter of it, 16 MiB to 4 GiB.
constexpr std::uint64_t tree_stage_heap_bytes(std::uint64_t room) noexcept {
  return std::clamp<std::uint64_t>(room / 4, std::uint64_t{16} << 20, std::uint64_t{4} << 30);
}

/// Neighbours per item: min(n - 1, max(min_samples - 1, k_graph, 1)), k_graph
/// = 2 min_samples when 0.
constexpr std::size_t knn_neighbours(std::size_t n, std::size_t min_samples, std::size_t k_graph) noexcept {
  const std::size_t kg = k_graph == 0 ? 2 * min_samples : k_graph;
  const std::size_t k = std::max<std::size_t>({min_samples > 0 ? min_samples - 1 : 0, kg, 1});
  return n == 0 ? 0 : std::min(n - 1, k);
}

/// Rows per kNN block: as many as heap_bytes holds (8 B per slot), at most
/// max(2^18, ceil(n / 4)) (a block of 2^18 rows, one per thread, fills a
/// GPU; past 2^20 items the heaps stay at most a quarter of the lists), 1..n.
/// The block size changes the memory and the number of passes, never the lists.
constexpr std::size_t knn_heap_rows(std::size_t n, std::size_t k, std::size_t heap_bytes) noexcept {
  const std::size_t cap = std::max<std::size_t>(std::size_t{1} << 18, (n + 3) / 4);
  return std::min({n, cap, std::max<std::size_t>(1, heap_bytes / (8 * std::max<std::size_t>(k, 1)))});
}

/// Device memory knn_hdbscan needs at most, in bytes (the file comment's
/// account; the buffers alive together in each phase), Thrust's temporary
/// storage not included:
///  - the upload: the rows twice (row-major and column-major);
///  - the lists: the column-major rows, core and floor (8 B per item), the
///    sorted lists (8 B per entry: id, distance) and one row block's heaps
///    (8 B per slot);
///  - the forest rounds over the lists: the rows, the lists, core and floor,
///    the component state (comp, parent, roots, next_roots, jump, best_w: 24
///    B; best_p 8 B; hooked, stays 2 B; edge_of 12 B) and the tree (12 B): 66
///    B per item;
///  - the join (exact.cuh's join_components; the lists freed): the rows,
///    core, floor, comp and the tree (24 B) and the join's own state (54 B):
///    78 B per item.
constexpr std::uint64_t knn_device_bytes(std::uint64_t n, std::uint64_t stride, std::uint64_t k,
                                         std::uint64_t heap_bytes) noexcept {
  const std::uint64_t rows = knn_heap_rows(static_cast<std::size_t>(n), static_cast<std::size_t>(k),
                                           static_cast<std::size_t>(heap_bytes));
  const std::uint64_t data = 4 * n * stride;
  const std::uint64_t lists = 8 * n * k + 8 * rows * k + 8 * n;
  const std::uint64_t rounds = 8 * n * k + 66 * n;
  const std::uint64_t join = 78 * n;
  return data + std::max({data, lists, rounds, join});
}

/// What knn.cu plans for n rows of `stride` floats with `room` bytes of
/// usable device memory (free, or CHUTORO_CUDA_MEMORY_LIMIT if lower):
/// knn_device_bytes at the default heap budget plus an eighth for Thrust's
/// temporaries; the stage refuses when this exceeds room.
constexpr std::uint64_t knn_planned_bytes(std::uint64_t n, std::uint64_t stride, std::uint64_t min_samples,
                                          std::uint64_t k_graph, std::uint64_t room) noexcept {
  const std::uint64_t k = knn_neighbours(static_cast<std::size_t>(n), static_cast<std::size_t>(min_samples),
                                         static_cast<std::size_t>(k_graph));
  const std::uint64_t base = knn_device_bytes(n, stride, k, tree_stage_heap_bytes(room));
  return base + base / 8;
}

}  // namespace chutoro::cuda_detail
