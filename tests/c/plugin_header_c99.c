/* Compile-and-link test of include/chutoro/plugin.h as plain C99
 * (-std=c99 -pedantic-errors -Wall -Wextra -Werror): the header must not need
 * C++ or C11, and the v-table layout is pinned. Exit status 0 = pass. */
#include <chutoro/plugin.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static uint64_t len(void* s) {
  (void)s;
  return 2;
}
static const char* name(void* s) {
  (void)s;
  return "c99";
}
static int32_t distance(void* s, uint64_t i, uint64_t j, float* out, char* error) {
  (void)s;
  if (i > 1 || j > 1)
    return chutoro_fail(error, CHUTORO_ERR_INVALID_ARGUMENT, "id %d out of range", (int)(i > j ? i : j));
  *out = i == j ? 0.0f : 1.0f;
  return CHUTORO_OK;
}
static void destroy(void* s) { (void)s; }

#define CHECK(c)                                               \
  do {                                                         \
    if (!(c)) {                                                \
      fprintf(stderr, "FAILED: %s (line %d)\n", #c, __LINE__); \
      return 1;                                                \
    }                                                          \
  } while (0)

int main(void) {
  chutoro_v1 vt;
  char error[CHUTORO_ERROR_MAX];
  float d = -1.0f;
  memset(&vt, 0, sizeof vt);
  vt.abi_version = CHUTORO_ABI_VERSION;
  vt.len = len;
  vt.name = name;
  vt.distance = distance;
  vt.destroy = destroy;
  CHECK(vt.len(vt.state) == 2);
  CHECK(strcmp(vt.name(vt.state), "c99") == 0);
  CHECK(vt.distance(vt.state, 0, 1, &d, error) == CHUTORO_OK && d == 1.0f);
  CHECK(vt.distance(vt.state, 0, 7, &d, error) == CHUTORO_ERR_INVALID_ARGUMENT);
  CHECK(strcmp(error, "id 7 out of range") == 0);
  CHECK(CHUTORO_ABI_VERSION == 1u);
  CHECK(sizeof(chutoro_pair) == 8);
  CHECK(offsetof(chutoro_v1, abi_version) == 0 && offsetof(chutoro_v1, caps) == 4);
  CHECK(offsetof(chutoro_v1, state) == 8);
  CHECK(offsetof(chutoro_v1, len) == 8 + sizeof(void*));
  CHECK(offsetof(chutoro_v1, destroy) == 8 + 5 * sizeof(void*));
  CHECK(offsetof(chutoro_v1, reserved) == 8 + 6 * sizeof(void*));
  CHECK(sizeof(chutoro_v1) == 8 + 10 * sizeof(void*));
  CHECK(strcmp(CHUTORO_PLUGIN_ENTRY_NAME, "chutoro_plugin_open") == 0);
  vt.destroy(vt.state);
  printf("plugin.h: C99 compile-and-link test passed\n");
  return 0;
}
