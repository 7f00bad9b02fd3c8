/* chutoro — the C plugin ABI, version 1 (plain C99; no C++ in this header).
 *
 * A plugin is a shared library that exports one function,
 *
 *     const chutoro_v1* chutoro_plugin_open(uint32_t host_abi_version,
 *                                           const char* arg, char* error);
 *
 * The host (chutoro::plugin_source, the CLI's --plugin, Python's
 * chutoro.load_plugin) dlopen()s the library, calls the entry point once with
 * the plugin-specific argument string `arg` (e.g. a file name; never NULL,
 * possibly empty) and receives a v-table describing n items and a distance
 * between them. On failure the entry point returns NULL and writes a message
 * into `error` (CHUTORO_ERROR_MAX bytes, NUL-terminated, may be truncated).
 *
 * Contract (the host checks what it can and reports every violation as a
 * chutoro::error naming the plugin file):
 *  - abi_version == CHUTORO_ABI_VERSION; caps holds only CHUTORO_HAS_* bits;
 *  - len, name, distance and destroy are non-NULL; distance_batch is non-NULL
 *    exactly when caps has CHUTORO_HAS_DISTANCE_BATCH; reserved[] are NULL;
 *  - len(state) >= 1 and < 2^32 - 1 (items are ids 0 .. len-1);
 *  - d(i, j) >= 0 (+infinity allowed), d(i, i) = 0, d(i, j) = d(j, i);
 *    NaN or a negative value is an error;
 *  - distance and distance_batch may be called concurrently from several
 *    threads with the same state, and must not throw or longjmp;
 *  - the v-table and the string name() returns stay valid until destroy;
 *  - destroy(state) is called exactly once, last, and frees everything.
 *    (A v-table whose abi_version does not match is never touched again, so
 *    its destroy is not called: the host cannot know that layout.)
 *
 * Failures: a fallible call returns a status (CHUTORO_OK = 0, else one of
 * the CHUTORO_ERR_* codes, the same values as chutoro::error_code) and may
 * write a message into the `error` buffer it is given. The host owns that
 * buffer (thread-local, CHUTORO_ERROR_MAX bytes, emptied before each call),
 * so a plugin needs no thread-local storage of its own; chutoro_fail()
 * below formats the message and returns the code in one statement.
 */
#ifndef CHUTORO_PLUGIN_H
#define CHUTORO_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The ABI version this header describes. */
#define CHUTORO_ABI_VERSION 1u

/** Name of the one exported entry point (see chutoro_plugin_open_fn). */
#define CHUTORO_PLUGIN_ENTRY_NAME "chutoro_plugin_open"

/** Bytes of every error buffer, the terminating NUL included. */
#define CHUTORO_ERROR_MAX 512

/** caps bits. */
#define CHUTORO_HAS_DISTANCE_BATCH 0x1u /**< distance_batch is provided: the host routes batches to it */
/** Reserved for the GPU host (items readable from the device); v1 CPU hosts ignore it. */
#define CHUTORO_HAS_DEVICE_VIEW 0x2u
/** Reserved for the GPU host (plugin-provided device kernels); v1 CPU hosts ignore it. */
#define CHUTORO_HAS_NATIVE_KERNELS 0x4u
#define CHUTORO_CAPS_ALL_V1 0x7u

/** Status codes (values shared with chutoro::error_code). */
#define CHUTORO_OK 0
#define CHUTORO_ERR_INVALID_ARGUMENT 1
#define CHUTORO_ERR_TYPE_MISMATCH 2
#define CHUTORO_ERR_IO 3
#define CHUTORO_ERR_PARSE 4
#define CHUTORO_ERR_UNSUPPORTED 5
#define CHUTORO_ERR_INTERNAL 6

/** A pair of item ids; the same layout as chutoro::index_pair. */
typedef struct chutoro_pair {
  uint32_t a;
  uint32_t b;
} chutoro_pair;

/** The v-table a plugin returns. 88 bytes on LP64; field order is fixed for v1. */
typedef struct chutoro_v1 {
  uint32_t abi_version; /**< must be CHUTORO_ABI_VERSION */
  uint32_t caps;        /**< CHUTORO_HAS_* bits */
  void* state;          /**< opaque, passed back to every function */

  /** Number of items n >= 1. Called once, at load. */
  uint64_t (*len)(void* state);
  /** Name of the distance, e.g. "jaccard" (UTF-8, NUL-terminated). Called once, at load. */
  const char* (*name)(void* state);
  /** *out = d(i, j) for ids i, j < n; returns CHUTORO_OK, or a CHUTORO_ERR_* code
   *  with a message in `error` (CHUTORO_ERROR_MAX bytes). Thread safe. */
  int32_t (*distance)(void* state, uint64_t i, uint64_t j, float* out, char* error);
  /** Optional (CHUTORO_HAS_DISTANCE_BATCH): out[k] = d(pairs[k].a, pairs[k].b)
   *  for k < n; same status convention. Thread safe. */
  int32_t (*distance_batch)(void* state, const chutoro_pair* pairs, float* out, uint64_t n, char* error);
  /** Frees state. Called exactly once, after every other call. */
  void (*destroy)(void* state);

  /** Must be NULL in v1 (room for the device view and native kernels). */
  void* reserved[4];
} chutoro_v1;

/** Signature of the exported entry point CHUTORO_PLUGIN_ENTRY_NAME. */
typedef const chutoro_v1* (*chutoro_plugin_open_fn)(uint32_t host_abi_version, const char* arg, char* error);

/** Writes a printf-formatted message into `error` (CHUTORO_ERROR_MAX bytes;
 *  NULL is allowed) and returns `code`: `return chutoro_fail(err, CHUTORO_ERR_IO, "...", ...);` */
static inline int32_t chutoro_fail(char* error, int32_t code, const char* format, ...) {
  if (error != NULL) {
    va_list args;
    va_start(args, format);
    vsnprintf(error, CHUTORO_ERROR_MAX, format, args);
    va_end(args);
  }
  return code;
}

/** Plugins define the entry point with this macro so that it is exported with C linkage:
 *  CHUTORO_PLUGIN_EXPORT const chutoro_v1* chutoro_plugin_open(uint32_t v, const char* arg, char* error) */
#ifdef __cplusplus
#define CHUTORO_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))
#else
#define CHUTORO_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CHUTORO_PLUGIN_H */
