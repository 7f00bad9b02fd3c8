/* chutoro — the ABI between the host and its CUDA module, version 3 (plain C;
 * no CUDA types, so the host compiles it with g++ and never links CUDA).
 *
 * The CUDA module libchutoro_cuda.so (src/cuda/module.cu, built by nvcc with
 * the CUDA runtime linked statically) exports one function,
 *
 *     const chutoro_cuda_v3* chutoro_cuda_open(uint32_t host_abi_version, char* error);
 *
 * The host (src/core/backend/cuda_loader.cpp) dlopen()s the module, calls the
 * entry point once and receives a v-table. Opening touches neither the driver
 * nor a device: it works on a machine without a GPU. The module returns NULL
 * with a message in `error` when it does not speak `host_abi_version`.
 *
 * Contract (the host checks what it can and reports every violation naming
 * the module file):
 *  - abi_version == CHUTORO_CUDA_ABI_VERSION; caps holds only
 *    CHUTORO_CUDA_CAPS_ALL_V3 bits;
 *  - versions, device_count and device_info are non-NULL; spanning_forest is
 *    non-NULL exactly when caps has CHUTORO_CUDA_STAGE_SPANNING_FOREST, and
 *    exact_tree exactly when caps has CHUTORO_CUDA_STAGE_EXACT_TREE, knn_tree
 *    exactly when caps has CHUTORO_CUDA_STAGE_KNN_TREE;
 *    reserved[] are NULL; build_info is a non-NULL string;
 *  - every function may be called from several threads at once, never
 *    throws and never aborts: failures (no driver, no device, out of device
 *    memory, ...) come back as a status and a message in `error`
 *    (CHUTORO_CUDA_ERROR_MAX bytes, NUL-terminated, owned by the host);
 *  - the v-table is static: valid until the module is unloaded.
 *
 * History: version 1 (issue 11) had the spanning-forest stage only; version
 * 2 adds exact_tree (the GPU exact mode), its metric codes, the progress
 * callback and CHUTORO_CUDA_ERR_CANCELLED; version 3 adds knn_tree (GPU
 * kNN candidates, in the slot of v2's reserved[0]). A host refuses a module of
 * another version (and the module a host of another version).
 */
#ifndef CHUTORO_CUDA_MODULE_H
#define CHUTORO_CUDA_MODULE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The ABI version this header describes. */
#define CHUTORO_CUDA_ABI_VERSION 3u

/** Name of the one exported entry point (see chutoro_cuda_open_fn). */
#define CHUTORO_CUDA_ENTRY_NAME "chutoro_cuda_open"

/** File name of the module (found next to the host, see cuda_loader.hpp). */
#define CHUTORO_CUDA_MODULE_FILE "libchutoro_cuda.so"

/** Bytes of every error buffer, the terminating NUL included. */
#define CHUTORO_CUDA_ERROR_MAX 512

/** caps bits. */
/** Every stage offered gives bit-identical results for the same input, run to run and device to device. */
#define CHUTORO_CUDA_DETERMINISTIC 0x1u
/** spanning_forest is provided. */
#define CHUTORO_CUDA_STAGE_SPANNING_FOREST 0x2u
/** exact_tree is provided. */
#define CHUTORO_CUDA_STAGE_EXACT_TREE 0x4u
/** knn_tree is provided. */
#define CHUTORO_CUDA_STAGE_KNN_TREE 0x8u
#define CHUTORO_CUDA_CAPS_ALL_V3 0xFu

/** Status codes. The first five say why no GPU can be used; the host
 *  reports them as "device cuda: <message>". */
#define CHUTORO_CUDA_OK 0
#define CHUTORO_CUDA_ERR_NO_DRIVER 1          /**< libcuda.so.1 (the NVIDIA driver) cannot be loaded */
#define CHUTORO_CUDA_ERR_DRIVER_TOO_OLD 2     /**< the driver is older than the module's CUDA runtime */
#define CHUTORO_CUDA_ERR_NO_DEVICE 3          /**< the driver sees no CUDA device (or none is visible) */
#define CHUTORO_CUDA_ERR_COMPUTE_CAPABILITY 4 /**< the device is older than min_compute_capability */
#define CHUTORO_CUDA_ERR_OUT_OF_MEMORY 5      /**< the device (or the host) has not enough free memory */
#define CHUTORO_CUDA_ERR_INVALID_ARGUMENT 6   /**< an argument is out of range (a host bug or bad input) */
#define CHUTORO_CUDA_ERR_CUDA 7               /**< any other CUDA failure, named in the message */
#define CHUTORO_CUDA_ERR_INTERNAL 8           /**< a broken invariant: a bug in the module */
#define CHUTORO_CUDA_ERR_CANCELLED 9          /**< the progress callback asked to stop */

/** Metrics of exact_tree (the distance on the rows as the host's sources
 *  store them; cosine and angular rows unit length): */
#define CHUTORO_CUDA_METRIC_EUCLIDEAN 0     /**< sqrt(sum (x_k - y_k)^2) */
#define CHUTORO_CUDA_METRIC_COSINE 1        /**< max(0, 1 - <x, y>) */
#define CHUTORO_CUDA_METRIC_MANHATTAN 2     /**< sum |x_k - y_k| */
#define CHUTORO_CUDA_METRIC_INNER_PRODUCT 3 /**< max(0, 1 - <x, y>) */
#define CHUTORO_CUDA_METRIC_ANGULAR 4       /**< 2 asin(min(1, |x - y| / 2)) / pi */

/** Progress of a long stage, called on the calling thread between tiles:
 *  `stage` ("core distances", "mst"), work done of total. Return 0 to go on,
 *  anything else to stop: the stage then returns CHUTORO_CUDA_ERR_CANCELLED. */
typedef int32_t (*chutoro_cuda_progress_fn)(void* context, const char* stage, uint64_t done, uint64_t total);

/** An edge (a, b) with its raw distance d; the same layout as chutoro::detail::raw_edge. */
typedef struct chutoro_cuda_edge {
  uint32_t a;
  uint32_t b;
  float d;
} chutoro_cuda_edge;

/** What device_info reports about one GPU. 336 bytes; field order is fixed since v1. */
typedef struct chutoro_cuda_device_info {
  char name[256];              /**< e.g. "NVIDIA H200" (UTF-8, NUL-terminated) */
  char pci_bus_id[32];         /**< "domain:bus:device.function", e.g. "0000:19:00.0" */
  int32_t compute_major;       /**< compute capability, e.g. 9 */
  int32_t compute_minor;       /**< e.g. 0 */
  int32_t multiprocessors;     /**< streaming multiprocessors */
  int32_t supported;           /**< 1 when the module has code this device runs (sm_XY or PTX), else 0 */
  uint64_t total_memory_bytes; /**< global memory */
  uint64_t free_memory_bytes;  /**< free global memory at the time of the call */
  uint64_t reserved1[2];       /**< 0 */
} chutoro_cuda_device_info;

/** The v-table the module returns. Field order is fixed for v3 (v2's, with reserved[0] become knn_tree). */
typedef struct chutoro_cuda_v3 {
  uint32_t abi_version; /**< must be CHUTORO_CUDA_ABI_VERSION */
  uint32_t caps;        /**< CHUTORO_CUDA_* caps bits */
  /** The CUDA runtime the module carries (linked statically), CUDART_VERSION
   *  style: 1000 * major + 10 * minor, e.g. 13000. */
  int32_t runtime_version;
  /** Oldest compute capability the module has code for, 10 * major + minor (75). */
  int32_t min_compute_capability;
  /** Build description, e.g. "CUDA 13.0, sm_75 sm_80 sm_90 + compute_90 PTX". */
  const char* build_info;

  /** *driver_version: the CUDA version the installed driver supports
   *  (1000 * major + 10 * minor; 0 without a driver); *runtime_version as
   *  above. Fails only with CHUTORO_CUDA_ERR_NO_DRIVER (then both are set). */
  int32_t (*versions)(int32_t* driver_version, int32_t* runtime_version, char* error);
  /** *count = the number of CUDA devices, or a CHUTORO_CUDA_ERR_NO_DRIVER /
   *  _DRIVER_TOO_OLD / _NO_DEVICE / _CUDA status with the reason. */
  int32_t (*device_count)(int32_t* count, char* error);
  /** Fills *out for device 0 <= device < count (any compute capability). */
  int32_t (*device_info)(int32_t device, chutoro_cuda_device_info* out, char* error);
  /** Optional (CHUTORO_CUDA_STAGE_SPANNING_FOREST): the minimum spanning
   *  forest of edges[0..m) and more[0..m2) on items 0..n-1 under mutual
   *  reachability max(core[a], core[b], d) (plain d when core is NULL; else
   *  core has n values), ties broken by (min(a,b), max(a,b)) so the forest is
   *  unique, computed on `device`. Writes the forest's edges (a < b, raw d)
   *  in Kruskal order to out (room for max(n - 1, 0) edges) and their number
   *  to *out_count. Host buffers in and out; the module allocates and frees
   *  the device memory. n < 2^32; every a, b < n. Device too old:
   *  CHUTORO_CUDA_ERR_COMPUTE_CAPABILITY; not enough device memory:
   *  CHUTORO_CUDA_ERR_OUT_OF_MEMORY with the bytes needed and free. */
  int32_t (*spanning_forest)(int32_t device, uint64_t n, const chutoro_cuda_edge* edges, uint64_t m,
                             const chutoro_cuda_edge* more, uint64_t m2, const float* core,
                             chutoro_cuda_edge* out, uint64_t* out_count, char* error);

  /** Optional (CHUTORO_CUDA_STAGE_EXACT_TREE): exact HDBSCAN* of n dense
   *  float32 rows (row i at rows + i * stride; stride a multiple of 16, >=
   *  dim, the tail zero) under `metric` (CHUTORO_CUDA_METRIC_*), on `device`:
   *  core_out[i] (n floats) = the distance to the (min_samples - 1)-th
   *  nearest other item (0 for min_samples 1), and tree_out (room for
   *  max(n - 1, 0) edges) = the minimum spanning tree of the complete graph
   *  under mutual reachability w = max(core[a], core[b], d(a, b)), unique
   *  under (w, min id, max id), as n - 1 edges (a < b, d = w) sorted by (w,
   *  a, b): what the host's exact mode computes (src/cuda/exact.cuh).
   *  1 <= min_samples <= n < 2^32. progress may be NULL. Not enough device
   *  memory: CHUTORO_CUDA_ERR_OUT_OF_MEMORY with the bytes needed and free. */
  int32_t (*exact_tree)(int32_t device, const float* rows, uint64_t n, uint64_t dim, uint64_t stride,
                        int32_t metric, uint64_t min_samples, float* core_out, chutoro_cuda_edge* tree_out,
                        chutoro_cuda_progress_fn progress, void* progress_context, char* error);

  /** Optional (CHUTORO_CUDA_STAGE_KNN_TREE): GPU candidates for FISHDBC
   *  (src/cuda/knn.cuh) on the rows, metrics and devices of exact_tree: the
   *  exact k-nearest-neighbour graph, k = min(n - 1, max(min_samples - 1,
   *  k_graph, 1)) other items per item (k_graph 0: 2 min_samples), ordered by
   *  (distance, id); core_out = the exact core distances; tree_out (room for
   *  max(n - 1, 0) edges) = the minimum spanning forest of the kNN edges
   *  under mutual reachability, its components joined by the lightest
   *  cross-component edges (exact tiled Borůvka rounds), as n - 1 edges (a <
   *  b, d = w) sorted by (w, a, b); *knn_components (may be NULL) = the
   *  components of the kNN graph (1: no join ran). Arguments, progress
   *  ("knn", "mst") and statuses as exact_tree's. */
  int32_t (*knn_tree)(int32_t device, const float* rows, uint64_t n, uint64_t dim, uint64_t stride,
                      int32_t metric, uint64_t min_samples, uint64_t k_graph, float* core_out,
                      chutoro_cuda_edge* tree_out, uint64_t* knn_components,
                      chutoro_cuda_progress_fn progress, void* progress_context, char* error);

  /** Must be NULL in v3 (room for later stages: distance tiles, NN-descent). */
  void* reserved[3];
} chutoro_cuda_v3;

/** Signature of the exported entry point CHUTORO_CUDA_ENTRY_NAME. */
typedef const chutoro_cuda_v3* (*chutoro_cuda_open_fn)(uint32_t host_abi_version, char* error);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CHUTORO_CUDA_MODULE_H */
