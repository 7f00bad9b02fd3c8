/* A stand-in for libchutoro_cuda.so (src/cuda/cuda_module.h) that needs no
 * CUDA: the loader tests and the `chutoro devices` tests use it to play each
 * situation a machine can be in. The environment variable CHUTORO_FAKE_CUDA,
 * read at every call, picks it:
 *   two_gpus (default)  devices "Fake GPU 0" (9.0, usable) and "Fake GPU 1" (7.0, too old)
 *   old_gpu     one device of compute capability 6.1
 *   no_driver   no NVIDIA driver;  too_old  driver too old;  no_device  no device
 *   oom         two_gpus, but spanning_forest runs out of device memory
 *   bad_forest  two_gpus, but spanning_forest returns an edge (5, 2)
 *   wrong_abi   the entry point returns a v-table of ABI version 99
 *   refuse      the entry point returns NULL with a message
 *   bad_caps    caps claims the spanning-forest stage without the function
 *   bad_exact_caps  caps claims the exact stage without the function
 *   no_exact    two_gpus, but the module offers no exact stage
 *   knn         two_gpus, and the module offers the kNN-candidates stage too
 *               (knn_tree: exact_tree's answer, one kNN component)
 * Its spanning_forest (modes two_gpus and the like) returns the first n - 1
 * edges it is given, normalised to a < b: enough to test the host's
 * plumbing, not a forest. Its exact_tree reports progress once (stopping
 * with CHUTORO_CUDA_ERR_CANCELLED when the callback says so), then returns
 * core distances 0.5 and the chain (i, i + 1) of weight 1 (mode "bad_exact":
 * an edge (2, 1) instead). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_module.h"

static int mode_is(const char* name) {
  const char* m = getenv("CHUTORO_FAKE_CUDA");
  if (m == NULL || m[0] == '\0') m = "two_gpus";
  return strcmp(m, name) == 0;
}

static int32_t say(char* error, int32_t code, const char* message) {
  if (error != NULL) snprintf(error, CHUTORO_CUDA_ERROR_MAX, "%s", message);
  return code;
}

/* The situation's failure for any device query, or CHUTORO_CUDA_OK. */
static int32_t situation(char* error) {
  if (mode_is("no_driver"))
    return say(error, CHUTORO_CUDA_ERR_NO_DRIVER, "no NVIDIA driver (libcuda.so.1 not found: fake)");
  if (mode_is("too_old"))
    return say(error, CHUTORO_CUDA_ERR_DRIVER_TOO_OLD,
               "NVIDIA driver too old (driver 12.2, this module needs >= 13.0)");
  if (mode_is("no_device"))
    return say(error, CHUTORO_CUDA_ERR_NO_DEVICE, "no CUDA device (the NVIDIA driver sees none)");
  return CHUTORO_CUDA_OK;
}

static int32_t fake_versions(int32_t* driver_version, int32_t* runtime_version, char* error) {
  *runtime_version = 13000;
  *driver_version = mode_is("no_driver") ? 0 : (mode_is("too_old") ? 12020 : 13000);
  return mode_is("no_driver") ? situation(error) : CHUTORO_CUDA_OK;
}

static int32_t fake_device_count(int32_t* count, char* error) {
  int32_t status = situation(error);
  *count = 0;
  if (status != CHUTORO_CUDA_OK) return status;
  *count = mode_is("old_gpu") ? 1 : 2;
  return CHUTORO_CUDA_OK;
}

static int32_t fake_device_info(int32_t device, chutoro_cuda_device_info* out, char* error) {
  int32_t count = 0;
  int32_t status = fake_device_count(&count, error);
  memset(out, 0, sizeof *out);
  if (status != CHUTORO_CUDA_OK) return status;
  if (device < 0 || device >= count)
    return say(error, CHUTORO_CUDA_ERR_INVALID_ARGUMENT, "no such fake device");
  snprintf(out->name, sizeof out->name, "Fake GPU %d", (int)device);
  snprintf(out->pci_bus_id, sizeof out->pci_bus_id, "0000:%02x:00.0", 0x19 + (int)device);
  if (mode_is("old_gpu")) {
    out->compute_major = 6;
    out->compute_minor = 1;
  } else {
    out->compute_major = device == 0 ? 9 : 7;
    out->compute_minor = 0;
  }
  out->supported = out->compute_major * 10 + out->compute_minor >= 75;
  out->multiprocessors = device == 0 ? 132 : 80;
  out->total_memory_bytes = (uint64_t)(device == 0 ? 141 : 16) << 30;
  out->free_memory_bytes = (uint64_t)(device == 0 ? 140 : 15) << 30;
  return CHUTORO_CUDA_OK;
}

static int32_t fake_spanning_forest(int32_t device, uint64_t n, const chutoro_cuda_edge* edges, uint64_t m,
                                    const chutoro_cuda_edge* more, uint64_t m2, const float* core,
                                    chutoro_cuda_edge* out, uint64_t* out_count, char* error) {
  uint64_t k, taken = 0;
  int32_t status = situation(error);
  (void)device;
  (void)core;
  *out_count = 0;
  if (status != CHUTORO_CUDA_OK) return status;
  if (mode_is("oom"))
    return say(
        error, CHUTORO_CUDA_ERR_OUT_OF_MEMORY,
        "out of device memory: the spanning forest needs about 9999 MiB; CUDA device 0 has 1 MiB free");
  if (mode_is("bad_forest") && n > 5) {
    out[0].a = 5;
    out[0].b = 2;
    out[0].d = 1.0f;
    *out_count = 1;
    return CHUTORO_CUDA_OK;
  }
  for (k = 0; k < m + m2 && taken + 1 < n; ++k) {
    chutoro_cuda_edge e = k < m ? edges[k] : more[k - m];
    if (e.a == e.b) continue;
    if (e.a > e.b) {
      uint32_t t = e.a;
      e.a = e.b;
      e.b = t;
    }
    out[taken++] = e;
  }
  *out_count = taken;
  return CHUTORO_CUDA_OK;
}

static int32_t fake_exact_tree(int32_t device, const float* rows, uint64_t n, uint64_t dim, uint64_t stride,
                               int32_t metric, uint64_t min_samples, float* core_out,
                               chutoro_cuda_edge* tree_out, chutoro_cuda_progress_fn progress,
                               void* progress_context, char* error) {
  uint64_t i;
  int32_t status = situation(error);
  (void)device;
  (void)rows;
  (void)dim;
  (void)stride;
  (void)metric;
  (void)min_samples;
  if (status != CHUTORO_CUDA_OK) return status;
  if (mode_is("oom"))
    return say(error, CHUTORO_CUDA_ERR_OUT_OF_MEMORY,
               "out of device memory: exact HDBSCAN* needs about 9999 MiB; CUDA device 0 has 1 MiB free");
  if (progress != NULL && progress(progress_context, "core distances", 0, n) != 0)
    return say(error, CHUTORO_CUDA_ERR_CANCELLED, "exact tree: cancelled");
  for (i = 0; i < n; ++i) core_out[i] = 0.5f;
  for (i = 0; i + 1 < n; ++i) {
    tree_out[i].a = (uint32_t)i;
    tree_out[i].b = (uint32_t)(i + 1);
    tree_out[i].d = 1.0f;
  }
  if (mode_is("bad_exact") && n > 2) {
    tree_out[1].a = 2;
    tree_out[1].b = 1;
  }
  return CHUTORO_CUDA_OK;
}

static int32_t fake_knn_tree(int32_t device, const float* rows, uint64_t n, uint64_t dim, uint64_t stride,
                             int32_t metric, uint64_t min_samples, uint64_t k_graph, float* core_out,
                             chutoro_cuda_edge* tree_out, uint64_t* knn_components,
                             chutoro_cuda_progress_fn progress, void* progress_context, char* error) {
  (void)k_graph;
  if (knn_components != NULL) *knn_components = 1;
  return fake_exact_tree(device, rows, n, dim, stride, metric, min_samples, core_out, tree_out, progress,
                         progress_context, error);
}

__attribute__((visibility("default"))) const chutoro_cuda_v3* chutoro_cuda_open(uint32_t host_abi_version,
                                                                                char* error) {
  static chutoro_cuda_v3 table;
  (void)host_abi_version;
  if (mode_is("refuse")) {
    say(error, CHUTORO_CUDA_ERR_INTERNAL, "the fake module refuses to open");
    return NULL;
  }
  memset(&table, 0, sizeof table);
  table.abi_version = mode_is("wrong_abi") ? 99u : CHUTORO_CUDA_ABI_VERSION;
  table.caps = CHUTORO_CUDA_DETERMINISTIC | CHUTORO_CUDA_STAGE_SPANNING_FOREST |
               (mode_is("no_exact") ? 0u : CHUTORO_CUDA_STAGE_EXACT_TREE) |
               (mode_is("knn") ? CHUTORO_CUDA_STAGE_KNN_TREE : 0u);
  table.runtime_version = 13000;
  table.min_compute_capability = 75;
  table.build_info = "fake CUDA module (tests/c/fake_cuda_module.c)";
  table.versions = fake_versions;
  table.device_count = fake_device_count;
  table.device_info = fake_device_info;
  table.spanning_forest = mode_is("bad_caps") ? NULL : fake_spanning_forest;
  table.exact_tree = (mode_is("bad_exact_caps") || mode_is("no_exact")) ? NULL : fake_exact_tree;
  table.knn_tree = mode_is("knn") ? fake_knn_tree : NULL;
  return &table;
}
