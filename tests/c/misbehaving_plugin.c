/* A test plugin (C99) whose argument picks how it behaves, well or badly.
 * Items: n = 12 points on a line, d(i, j) = |i - j| (n = 0 with "len0").
 *
 *   ok            caps = CHUTORO_HAS_DISTANCE_BATCH
 *   ok-nobatch    caps = 0, distance_batch NULL
 *   abi=N         abi_version = N
 *   null          the entry point returns NULL with a message
 *   null-silent   the entry point returns NULL without a message
 *   null:FIELD    v-table field FIELD (len, name, distance, destroy) is NULL
 *   batch-missing caps has CHUTORO_HAS_DISTANCE_BATCH, distance_batch is NULL
 *   batch-undeclared distance_batch set, caps 0
 *   caps-unknown  caps has bit 0x100
 *   reserved      reserved[2] is not NULL
 *   len0 / lenhuge  len() returns 0 / 2^40
 *   name-null     name() returns NULL
 *   nan / negative   d = NaN / -1 for the pair {3, 4}
 *   fail          status CHUTORO_ERR_IO, message "disk on fire at (i, j)" for the pair {3, 4}
 *   fail-silent   status 99, no message, for the pair {3, 4}
 *   fail-all      every distance fails with "failed (i, j)" (thread-local message test)
 *   batch-fail    distance_batch fails with CHUTORO_ERR_PARSE "batch broke at k"
 *   count         n = 400 points at positions (37 i) mod 400 on a line, caps =
 *                 CHUTORO_HAS_DISTANCE_BATCH, distance_batch gives the same
 *                 distances as distance and both count their calls
 *   count-nobatch the same points, caps = 0
 *
 * test_plugin_destroy_count() counts destroy calls since the library was loaded;
 * test_plugin_calls(k) the "count" modes' calls since the last test_plugin_calls(-1)
 * (k = 0: distance calls, 1: distance_batch calls, 2: pairs passed to distance_batch).
 * Not thread safe: count with one thread.
 */
#include <chutoro/plugin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct test_state {
  chutoro_v1 vt;
  uint64_t n;
  char mode[32];
} test_state;

static int destroy_count = 0;

CHUTORO_PLUGIN_EXPORT int test_plugin_destroy_count(void) { return destroy_count; }

static uint64_t counts[3];

CHUTORO_PLUGIN_EXPORT uint64_t test_plugin_calls(int k) {
  if (k < 0 || k > 2) {
    counts[0] = counts[1] = counts[2] = 0;
    return 0;
  }
  return counts[k];
}

static int counting(const test_state* s) { return strncmp(s->mode, "count", 5) == 0; }
static float position(uint64_t i) { return (float)((37u * i) % 400u); }
static float line_distance(uint64_t i, uint64_t j) { return fabsf(position(i) - position(j)); }

static uint64_t t_len(void* s) { return ((test_state*)s)->n; }
static const char* t_name(void* s) {
  (void)s;
  return "line";
}
static const char* t_name_null(void* s) {
  (void)s;
  return NULL;
}
static int is_34(uint64_t i, uint64_t j) { return (i == 3 && j == 4) || (i == 4 && j == 3); }

static int32_t t_distance(void* state, uint64_t i, uint64_t j, float* out, char* error) {
  const test_state* s = (const test_state*)state;
  if (counting(s)) {
    ++counts[0];
    *out = line_distance(i, j);
    return CHUTORO_OK;
  }
  if (strcmp(s->mode, "fail-all") == 0)
    return chutoro_fail(error, CHUTORO_ERR_INVALID_ARGUMENT, "failed (%llu, %llu)", (unsigned long long)i,
                        (unsigned long long)j);
  if (is_34(i, j)) {
    if (strcmp(s->mode, "nan") == 0) {
      *out = (float)NAN;
      return CHUTORO_OK;
    }
    if (strcmp(s->mode, "negative") == 0) {
      *out = -1.0f;
      return CHUTORO_OK;
    }
    if (strcmp(s->mode, "fail") == 0)
      return chutoro_fail(error, CHUTORO_ERR_IO, "disk on fire at (%llu, %llu)", (unsigned long long)i,
                          (unsigned long long)j);
    if (strcmp(s->mode, "fail-silent") == 0) return 99;
  }
  *out = (float)(i > j ? i - j : j - i);
  return CHUTORO_OK;
}

static int32_t t_distance_batch(void* state, const chutoro_pair* pairs, float* out, uint64_t n, char* error) {
  const test_state* s = (const test_state*)state;
  uint64_t k;
  if (counting(s)) {
    ++counts[1];
    counts[2] += n;
    for (k = 0; k < n; ++k) out[k] = line_distance(pairs[k].a, pairs[k].b);
    return CHUTORO_OK;
  }
  for (k = 0; k < n; ++k) {
    if (strcmp(s->mode, "batch-fail") == 0 && k == n - 1)
      return chutoro_fail(error, CHUTORO_ERR_PARSE, "batch broke at %llu", (unsigned long long)k);
    /* +100 marks values that came through the batch path. */
    out[k] = (float)(pairs[k].a > pairs[k].b ? pairs[k].a - pairs[k].b : pairs[k].b - pairs[k].a) + 100.0f;
  }
  return CHUTORO_OK;
}

static void t_destroy(void* state) {
  ++destroy_count;
  free(state);
}

static int starts(const char* s, const char* prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

CHUTORO_PLUGIN_EXPORT const chutoro_v1* chutoro_plugin_open(uint32_t host_abi_version, const char* arg,
                                                            char* error) {
  test_state* s;
  if (host_abi_version != CHUTORO_ABI_VERSION) {
    chutoro_fail(error, CHUTORO_ERR_UNSUPPORTED, "host ABI %u", host_abi_version);
    return NULL;
  }
  if (strcmp(arg, "null") == 0) {
    chutoro_fail(error, CHUTORO_ERR_INVALID_ARGUMENT, "asked to return NULL");
    return NULL;
  }
  if (strcmp(arg, "null-silent") == 0) return NULL;
  if (starts(arg, "abi=") || strcmp(arg, "null:destroy") == 0) {
    /* The host cannot free these (unknown layout / no destroy): static, so no leak is reported. */
    static test_state unowned;
    memset(&unowned, 0, sizeof unowned);
    s = &unowned;
  } else {
    s = (test_state*)calloc(1, sizeof *s);
    if (s == NULL) return NULL;
  }
  strncpy(s->mode, arg, sizeof s->mode - 1);
  s->n = 12;
  s->vt.abi_version = CHUTORO_ABI_VERSION;
  s->vt.caps = CHUTORO_HAS_DISTANCE_BATCH;
  s->vt.state = s;
  s->vt.len = t_len;
  s->vt.name = t_name;
  s->vt.distance = t_distance;
  s->vt.distance_batch = t_distance_batch;
  s->vt.destroy = t_destroy;

  if (counting(s)) s->n = 400;
  if (strcmp(arg, "ok-nobatch") == 0 || strcmp(arg, "count-nobatch") == 0 || strcmp(arg, "fail-all") == 0 ||
      strcmp(arg, "nan") == 0 || strcmp(arg, "negative") == 0 || strcmp(arg, "fail") == 0 ||
      strcmp(arg, "fail-silent") == 0) {
    s->vt.caps = 0;
    s->vt.distance_batch = NULL;
  }
  if (starts(arg, "abi=")) s->vt.abi_version = (uint32_t)strtoul(arg + 4, NULL, 10);
  if (strcmp(arg, "null:len") == 0) s->vt.len = NULL;
  if (strcmp(arg, "null:name") == 0) s->vt.name = NULL;
  if (strcmp(arg, "null:distance") == 0) s->vt.distance = NULL;
  if (strcmp(arg, "null:destroy") == 0) s->vt.destroy = NULL;
  if (strcmp(arg, "batch-missing") == 0) s->vt.distance_batch = NULL;
  if (strcmp(arg, "batch-undeclared") == 0) s->vt.caps = 0;
  if (strcmp(arg, "caps-unknown") == 0) s->vt.caps |= 0x100u;
  if (strcmp(arg, "reserved") == 0) s->vt.reserved[2] = s;
  if (strcmp(arg, "len0") == 0) s->n = 0;
  if (strcmp(arg, "lenhuge") == 0) s->n = (uint64_t)1 << 40;
  if (strcmp(arg, "name-null") == 0) s->vt.name = t_name_null;
  return &s->vt;
}
