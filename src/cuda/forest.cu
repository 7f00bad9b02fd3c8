// chutoro — the CUDA module's spanning-forest stage: Borůvka on Thrust's CUDA
// system (boruvka.cuh) behind the C ABI (cuda_module.h), with its failures
// turned into statuses: out of device memory says how much the stage needs
// and how much the device has free.
//
// Upload (issue 11, "edges uploaded once ... two streams"): the edges go to
// the device once, in chunks of kChunk edges through two pinned staging
// buffers. A copy stream carries each chunk's DMA; a compute stream stages
// the chunk (range check, weight key, working-list entry: boruvka_upload::
// stage) once its DMA has finished (an event), while the host already fills
// the other staging buffer and the copy stream moves the next chunk. So the
// next chunk's upload overlaps the current chunk's staging; the Borůvka
// rounds need every edge and start after the last chunk. Inputs of at most
// one chunk, or when pinned memory cannot be had, take boruvka_forest's
// plain copies.
#include <thrust/execution_policy.h>
#include <thrust/system/cuda/error.h>
#include <thrust/system/detail/bad_alloc.h>
#include <thrust/system_error.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

#include "cuda/boruvka.cuh"
#include "cuda/module_internal.hpp"
#include "cuda/stage_status.cuh"

namespace chutoro::cuda_detail {

static_assert(sizeof(forest_edge) == sizeof(chutoro_cuda_edge) &&
              alignof(forest_edge) == alignof(chutoro_cuda_edge));
static_assert(offsetof(forest_edge, a) == offsetof(chutoro_cuda_edge, a) &&
              offsetof(forest_edge, b) == offsetof(chutoro_cuda_edge, b) &&
              offsetof(forest_edge, d) == offsetof(chutoro_cuda_edge, d));

namespace {

/// Device memory the stage needs at most: boruvka.cuh's account
/// (boruvka_device_bytes), plus an eighth for Thrust's temporary storage.
std::uint64_t bytes_needed(std::uint64_t n, std::uint64_t m) {
  const std::uint64_t base = boruvka_device_bytes(n, m);
  return base + base / 8;
}

std::int32_t out_of_memory(std::int32_t device, std::uint64_t n, std::uint64_t m, char* error) {
  const device_memory_mib mem = device_memory_for_message();
  return fail(
      error, CHUTORO_CUDA_ERR_OUT_OF_MEMORY,
      "out of device memory: the spanning forest of %llu edges on %llu items needs about %.0f MiB of device "
      "memory; CUDA device %d has %.0f MiB free of %.0f MiB",
      static_cast<unsigned long long>(m), static_cast<unsigned long long>(n),
      static_cast<double>(bytes_needed(n, m)) / kMiB, static_cast<int>(device), mem.free, mem.total);
}

/// Edges per upload chunk (12 MiB; two pinned staging buffers of this size).
constexpr std::size_t kChunk = std::size_t{1} << 20;

/// Throws thrust::system_error (cuda_category) for a failed CUDA call.
void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw thrust::system_error(e, thrust::cuda_category(), what);
}

/// The streams, events and pinned buffers of one streamed upload, freed on
/// every path out (after the device is done with them).
struct upload_resources {
  cudaStream_t copy = nullptr, compute = nullptr;
  cudaEvent_t copied[2] = {nullptr, nullptr};
  forest_edge* staging[2] = {nullptr, nullptr};
  ~upload_resources() {
    if (copy != nullptr) (void)cudaStreamSynchronize(copy);
    if (compute != nullptr) (void)cudaStreamSynchronize(compute);
    for (cudaEvent_t& ev : copied)
      if (ev != nullptr) (void)cudaEventDestroy(ev);
    for (forest_edge*& p : staging)
      if (p != nullptr) (void)cudaFreeHost(p);
    if (copy != nullptr) (void)cudaStreamDestroy(copy);
    if (compute != nullptr) (void)cudaStreamDestroy(compute);
    (void)cudaGetLastError();
  }
};

/// boruvka_forest with the upload streamed (see the file comment).
std::vector<forest_edge> streamed_forest(std::size_t n, std::span<const forest_edge> edges,
                                         std::span<const forest_edge> more, std::span<const float> core) {
  const std::size_t m = edges.size() + more.size();
  if (m <= kChunk) return boruvka_forest(n, edges, more, core);
  boruvka_check(n, m, core.size());
  upload_resources r;
  for (forest_edge*& p : r.staging) {
    if (cudaHostAlloc(reinterpret_cast<void**>(&p), kChunk * sizeof(forest_edge), cudaHostAllocDefault) !=
        cudaSuccess) {
      (void)cudaGetLastError();  // no pinned memory: plain copies
      return boruvka_forest(n, edges, more, core);
    }
  }
  check(cudaStreamCreateWithFlags(&r.copy, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  check(cudaStreamCreateWithFlags(&r.compute, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  for (cudaEvent_t& ev : r.copied)
    check(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "cudaEventCreate");

  boruvka_upload up(n, m, core);  // allocated and initialised on the default stream (synchronously)
  const boruvka_impl::stage_edge stage = up.stage();
  forest_edge* const device_input = up.input();
  for (std::size_t first = 0, chunk = 0; first < m; first += kChunk, ++chunk) {
    const std::size_t len = std::min(kChunk, m - first), slot = chunk & 1;
    // The DMA that last read this staging buffer (chunk - 2) must be done.
    if (chunk >= 2) check(cudaEventSynchronize(r.copied[slot]), "cudaEventSynchronize");
    forest_edge* buf = r.staging[slot];
    // Positions [first, first + len) of edges ++ more.
    if (first < edges.size()) {
      const std::size_t from_edges = std::min(len, edges.size() - first);
      std::memcpy(buf, edges.data() + first, from_edges * sizeof(forest_edge));
      if (from_edges < len)
        std::memcpy(buf + from_edges, more.data(), (len - from_edges) * sizeof(forest_edge));
    } else {
      std::memcpy(buf, more.data() + (first - edges.size()), len * sizeof(forest_edge));
    }
    check(
        cudaMemcpyAsync(device_input + first, buf, len * sizeof(forest_edge), cudaMemcpyHostToDevice, r.copy),
        "cudaMemcpyAsync");
    check(cudaEventRecord(r.copied[slot], r.copy), "cudaEventRecord");
    check(cudaStreamWaitEvent(r.compute, r.copied[slot], 0), "cudaStreamWaitEvent");
    thrust::for_each(thrust::cuda::par_nosync.on(r.compute), thrust::counting_iterator<std::uint64_t>(first),
                     thrust::counting_iterator<std::uint64_t>(first + len), stage);
  }
  check(cudaStreamSynchronize(r.compute), "cudaStreamSynchronize");
  return boruvka_solve(up, edges, more);
}

}  // namespace

long double memory_limit(const char** text) {
  const char* v = std::getenv("CHUTORO_CUDA_MEMORY_LIMIT");
  *text = v;
  if (v == nullptr || *v == '\0') return 0;
  char* end = nullptr;
  errno = 0;
  const unsigned long long x = std::strtoull(v, &end, 10);
  if (end == v || errno != 0 || v[0] == '-') return -1;
  long double scale = 1;
  if (*end == 'K' || *end == 'k')
    scale = 1024.0L, ++end;
  else if (*end == 'M' || *end == 'm')
    scale = 1024.0L * 1024, ++end;
  else if (*end == 'G' || *end == 'g')
    scale = 1024.0L * 1024 * 1024, ++end;
  if (*end != '\0') return -1;
  return static_cast<long double>(x) * scale;
}

std::int32_t forest_stage(std::int32_t device, std::uint64_t n, const chutoro_cuda_edge* edges,
                          std::uint64_t m, const chutoro_cuda_edge* more, std::uint64_t m2, const float* core,
                          chutoro_cuda_edge* out, std::uint64_t* out_count, char* error) {
  const char* limit_text = nullptr;
  long double limit = 0;
  if (const std::int32_t s = read_memory_limit(&limit, &limit_text, error); s != CHUTORO_CUDA_OK) return s;
  if (limit > 0 && static_cast<long double>(bytes_needed(n, m + m2)) > limit) {
    return fail(
        error, CHUTORO_CUDA_ERR_OUT_OF_MEMORY,
        "out of device memory: the spanning forest of %llu edges on %llu items needs about %.0f MiB of "
        "device memory, more than CHUTORO_CUDA_MEMORY_LIMIT=%s allows",
        static_cast<unsigned long long>(m + m2), static_cast<unsigned long long>(n),
        static_cast<double>(bytes_needed(n, m + m2)) / kMiB, limit_text);
  }
  char host_what[128];
  std::snprintf(host_what, sizeof host_what, "the spanning forest of %llu edges on %llu items",
                static_cast<unsigned long long>(m + m2), static_cast<unsigned long long>(n));
  return run_stage(
      "spanning forest", host_what, error, [&] { return out_of_memory(device, n, m + m2, error); },
      [&]() -> std::int32_t {
        const auto* e = reinterpret_cast<const forest_edge*>(edges);
        const auto* e2 = reinterpret_cast<const forest_edge*>(more);
        const std::vector<forest_edge> forest = streamed_forest(
            static_cast<std::size_t>(n), std::span<const forest_edge>(e, e == nullptr ? 0 : m),
            std::span<const forest_edge>(e2, e2 == nullptr ? 0 : m2),
            std::span<const float>(core, core == nullptr ? 0 : n));
        if (forest.size() > (n > 0 ? n - 1 : 0)) {
          return fail(error, CHUTORO_CUDA_ERR_INTERNAL, "spanning forest: %zu edges on %llu items",
                      forest.size(), static_cast<unsigned long long>(n));
        }
        if (!forest.empty()) std::memcpy(out, forest.data(), forest.size() * sizeof(forest_edge));
        *out_count = forest.size();
        return CHUTORO_CUDA_OK;
      });
}

}  // namespace chutoro::cuda_detail
