/* Example chutoro plugin in plain C99: Jaccard distance between token sets.
 *
 * Items are the lines of a text file. Each line becomes a set of tokens:
 * whitespace-separated words, or with shingle=Q the line's byte Q-grams
 * (a line shorter than Q is one token). Tokens are numbered once (sorted,
 * deduplicated), so each item is a sorted array of uint32 ids and
 *
 *     d(A, B) = 1 - |A n B| / |A u B|     (0 when both sets are empty),
 *
 * a metric on finite sets. Provides distance_batch.
 *
 * Argument: "PATH" or "file=PATH[,shingle=Q]".
 *     chutoro cluster --plugin libchutoro_jaccard_tokens.so --plugin-arg "file=words.txt,shingle=3"
 */
#include <chutoro/plugin.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct token {
  const char* text;
  size_t len;
  uint64_t item;
} token;

typedef struct jaccard_state {
  uint64_t n;
  uint64_t* offsets; /* n + 1 */
  uint32_t* ids;     /* offsets[n] ids, sorted within each item */
  chutoro_v1 vtable;
} jaccard_state;

static int compare_tokens(const void* x, const void* y) {
  const token* a = (const token*)x;
  const token* b = (const token*)y;
  size_t m = a->len < b->len ? a->len : b->len;
  int c = memcmp(a->text, b->text, m);
  if (c != 0) return c;
  return (a->len > b->len) - (a->len < b->len);
}

static int compare_u32(const void* x, const void* y) {
  uint32_t a = *(const uint32_t*)x, b = *(const uint32_t*)y;
  return (a > b) - (a < b);
}

/* Appends a token; returns 0 when out of memory. */
static int push_token(token** tokens, size_t* n, size_t* cap, const char* text, size_t len, uint64_t item) {
  if (*n == *cap) {
    token* grown = (token*)realloc(*tokens, 2 * *cap * sizeof(token));
    if (grown == NULL) return 0;
    *tokens = grown;
    *cap *= 2;
  }
  (*tokens)[*n].text = text;
  (*tokens)[*n].len = len;
  (*tokens)[*n].item = item;
  ++*n;
  return 1;
}

static uint64_t js_len(void* state) { return ((jaccard_state*)state)->n; }

static const char* js_name(void* state) {
  (void)state;
  return "jaccard";
}

static float jaccard(const jaccard_state* s, uint64_t i, uint64_t j) {
  const uint32_t* a = s->ids + s->offsets[i];
  const uint32_t* b = s->ids + s->offsets[j];
  uint64_t na = s->offsets[i + 1] - s->offsets[i], nb = s->offsets[j + 1] - s->offsets[j];
  uint64_t x = 0, y = 0, common = 0;
  while (x < na && y < nb) {
    if (a[x] < b[y]) {
      ++x;
    } else if (b[y] < a[x]) {
      ++y;
    } else {
      ++common, ++x, ++y;
    }
  }
  if (na + nb == 0) return 0.0f;
  return (float)(1.0 - (double)common / (double)(na + nb - common));
}

static int32_t js_distance(void* state, uint64_t i, uint64_t j, float* out, char* error) {
  const jaccard_state* s = (const jaccard_state*)state;
  if (i >= s->n || j >= s->n)
    return chutoro_fail(error, CHUTORO_ERR_INVALID_ARGUMENT, "item id out of range (n = %llu)",
                        (unsigned long long)s->n);
  *out = jaccard(s, i, j);
  return CHUTORO_OK;
}

static int32_t js_distance_batch(void* state, const chutoro_pair* pairs, float* out, uint64_t n,
                                 char* error) {
  const jaccard_state* s = (const jaccard_state*)state;
  uint64_t k;
  for (k = 0; k < n; ++k) {
    if (pairs[k].a >= s->n || pairs[k].b >= s->n)
      return chutoro_fail(error, CHUTORO_ERR_INVALID_ARGUMENT, "pair %llu: item id out of range",
                          (unsigned long long)k);
    out[k] = jaccard(s, pairs[k].a, pairs[k].b);
  }
  return CHUTORO_OK;
}

static void js_destroy(void* state) {
  jaccard_state* s = (jaccard_state*)state;
  free(s->offsets);
  free(s->ids);
  free(s);
}

/* Reads the whole file; returns NULL with a message on failure. */
static char* read_file(const char* path, size_t* size, char* error) {
  FILE* f = fopen(path, "rb");
  char* buf = NULL;
  size_t cap = 1 << 16, used = 0;
  if (f == NULL) {
    chutoro_fail(error, CHUTORO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  for (;;) {
    char* grown = (char*)realloc(buf, cap);
    if (grown == NULL) break;
    buf = grown;
    used += fread(buf + used, 1, cap - used, f);
    if (used < cap) break;
    cap *= 2;
  }
  if (buf == NULL || ferror(f)) {
    chutoro_fail(error, CHUTORO_ERR_IO, "%s: cannot read", path);
    free(buf);
    fclose(f);
    return NULL;
  }
  fclose(f);
  *size = used;
  return buf;
}

CHUTORO_PLUGIN_EXPORT const chutoro_v1* chutoro_plugin_open(uint32_t host_abi_version, const char* arg,
                                                            char* error) {
  char path[4096] = "";
  long shingle = 0;
  char* text = NULL;
  size_t size = 0, pos, n_tokens = 0, cap_tokens = 1024, k;
  token* tokens = NULL;
  jaccard_state* s = NULL;
  uint64_t n = 0, item;

  if (host_abi_version != CHUTORO_ABI_VERSION) {
    chutoro_fail(error, CHUTORO_ERR_UNSUPPORTED, "built for ABI version %u", CHUTORO_ABI_VERSION);
    return NULL;
  }
  if (strchr(arg, '=') == NULL) {
    strncpy(path, arg, sizeof path - 1);
  } else { /* key=value[,key=value] */
    const char* p = arg;
    while (*p) {
      const char* end = strchr(p, ',');
      size_t len = end ? (size_t)(end - p) : strlen(p);
      if (len > 5 && strncmp(p, "file=", 5) == 0 && len - 5 < sizeof path) {
        memcpy(path, p + 5, len - 5);
        path[len - 5] = '\0';
      } else if (len > 8 && strncmp(p, "shingle=", 8) == 0) {
        shingle = strtol(p + 8, NULL, 10);
        if (shingle < 1 || shingle > 64) {
          chutoro_fail(error, CHUTORO_ERR_INVALID_ARGUMENT, "shingle must be in 1..64");
          return NULL;
        }
      } else {
        chutoro_fail(error, CHUTORO_ERR_INVALID_ARGUMENT,
                     "unknown argument \"%.*s\" (expected PATH or file=PATH[,shingle=Q])", (int)len, p);
        return NULL;
      }
      p += len + (end ? 1 : 0);
    }
  }
  if (path[0] == '\0') {
    chutoro_fail(error, CHUTORO_ERR_INVALID_ARGUMENT,
                 "no file given (expected PATH or file=PATH[,shingle=Q])");
    return NULL;
  }
  text = read_file(path, &size, error);
  if (text == NULL) return NULL;
  tokens = (token*)malloc(cap_tokens * sizeof(token));
  if (tokens == NULL) goto out_of_memory;

  /* One item per line ('\n', a trailing '\r' removed; no item after a final '\n'). */
  for (pos = 0; pos < size; ++n) {
    size_t end = pos, line_len, t;
    while (end < size && text[end] != '\n') ++end;
    line_len = end > pos && text[end - 1] == '\r' ? end - pos - 1 : end - pos;
    if (shingle > 0 && line_len > 0) {
      size_t q = (size_t)shingle;
      if (line_len <= q) {
        if (!push_token(&tokens, &n_tokens, &cap_tokens, text + pos, line_len, n)) goto out_of_memory;
      } else {
        for (t = 0; t + q <= line_len; ++t)
          if (!push_token(&tokens, &n_tokens, &cap_tokens, text + pos + t, q, n)) goto out_of_memory;
      }
    } else if (shingle == 0) {
      for (t = 0;;) {
        size_t start;
        while (t < line_len && isspace((unsigned char)text[pos + t])) ++t;
        start = t;
        while (t < line_len && !isspace((unsigned char)text[pos + t])) ++t;
        if (t == start) break;
        if (!push_token(&tokens, &n_tokens, &cap_tokens, text + pos + start, t - start, n))
          goto out_of_memory;
      }
    }
    pos = end + 1;
  }
  if (n == 0) {
    chutoro_fail(error, CHUTORO_ERR_PARSE, "%s: the file holds no lines", path);
    goto fail;
  }

  s = (jaccard_state*)calloc(1, sizeof *s);
  if (s == NULL) goto out_of_memory;
  s->n = n;
  s->offsets = (uint64_t*)calloc(n + 1, sizeof(uint64_t));
  s->ids = (uint32_t*)malloc((n_tokens ? n_tokens : 1) * sizeof(uint32_t));
  if (s->offsets == NULL || s->ids == NULL) goto out_of_memory;

  /* Number distinct tokens in sorted order, then gather each item's ids. */
  {
    uint32_t* id_of = (uint32_t*)malloc((n_tokens ? n_tokens : 1) * sizeof(uint32_t));
    uint64_t* fill;
    uint32_t next = 0;
    if (id_of == NULL) goto out_of_memory;
    qsort(tokens, n_tokens, sizeof(token), compare_tokens);
    for (k = 0; k < n_tokens; ++k) {
      if (k > 0 && compare_tokens(&tokens[k - 1], &tokens[k]) != 0) ++next;
      id_of[k] = next;
      ++s->offsets[tokens[k].item + 1];
    }
    for (item = 0; item < n; ++item) s->offsets[item + 1] += s->offsets[item];
    fill = (uint64_t*)malloc(n * sizeof(uint64_t));
    if (fill == NULL) {
      free(id_of);
      goto out_of_memory;
    }
    memcpy(fill, s->offsets, n * sizeof(uint64_t));
    for (k = 0; k < n_tokens; ++k) s->ids[fill[tokens[k].item]++] = id_of[k];
    free(fill);
    free(id_of);
  }
  /* Sort and deduplicate each item's ids in place, compacting the arrays. */
  {
    uint64_t write = 0, begin = 0;
    for (item = 0; item < n; ++item) {
      uint64_t end = s->offsets[item + 1], r;
      qsort(s->ids + begin, end - begin, sizeof(uint32_t), compare_u32);
      s->offsets[item] = write;
      for (r = begin; r < end; ++r)
        if (r == begin || s->ids[r] != s->ids[r - 1]) s->ids[write++] = s->ids[r];
      begin = end;
    }
    s->offsets[n] = write;
  }
  free(tokens);
  free(text);

  s->vtable.abi_version = CHUTORO_ABI_VERSION;
  s->vtable.caps = CHUTORO_HAS_DISTANCE_BATCH;
  s->vtable.state = s;
  s->vtable.len = js_len;
  s->vtable.name = js_name;
  s->vtable.distance = js_distance;
  s->vtable.distance_batch = js_distance_batch;
  s->vtable.destroy = js_destroy;
  return &s->vtable;

out_of_memory:
  chutoro_fail(error, CHUTORO_ERR_INTERNAL, "out of memory");
fail:
  if (s != NULL) js_destroy(s);
  free(tokens);
  free(text);
  return NULL;
}
