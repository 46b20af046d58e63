#include "store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t hash(const char *key, size_t length) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < length; ++i) h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
  return (size_t)h;
}

static store_entry **slot(const store *s, const char *key, size_t length) {
  store_entry **e = &s->buckets[hash(key, length) % s->bucket_count];
  while (*e && !((*e)->key_length == length && memcmp((*e)->key, key, length) == 0)) e = &(*e)->next;
  return e;
}

static int grow(store *s) {
  size_t count = s->bucket_count * 2;
  store_entry **buckets = calloc(count, sizeof *buckets);
  if (!buckets) return -1;
  for (size_t i = 0; i < s->bucket_count; ++i) {
    for (store_entry *e = s->buckets[i], *next; e; e = next) {
      next = e->next;
      size_t b = hash(e->key, e->key_length) % count;
      e->next = buckets[b];
      buckets[b] = e;
    }
  }
  free(s->buckets);
  s->buckets = buckets;
  s->bucket_count = count;
  return 0;
}

int store_init(store *s) {
  s->bucket_count = 1024;
  s->size = 0;
  s->buckets = calloc(s->bucket_count, sizeof *s->buckets);
  return s->buckets ? 0 : -1;
}

void store_free(store *s) {
  for (size_t i = 0; i < s->bucket_count; ++i) {
    for (store_entry *e = s->buckets[i], *next; e; e = next) {
      next = e->next;
      free(e->key);
      free(e->value);
      free(e);
    }
  }
  free(s->buckets);
  s->buckets = NULL;
}

static char *copy(const char *bytes, size_t length) {
  char *out = malloc(length + 1);
  if (out) {
    memcpy(out, bytes, length);
    out[length] = '\0';
  }
  return out;
}

int store_put(store *s, const char *key, size_t key_length, const char *value, size_t value_length) {
  if (s->size >= s->bucket_count && grow(s) != 0) return -1;
  store_entry **e = slot(s, key, key_length);
  char *v = copy(value, value_length);
  if (!v) return -1;
  if (*e) {
    free((*e)->value);
  } else {
    store_entry *n = calloc(1, sizeof *n);
    if (!n || !(n->key = copy(key, key_length))) {
      free(n);
      free(v);
      return -1;
    }
    n->key_length = key_length;
    *e = n;
    ++s->size;
  }
  (*e)->value = v;
  (*e)->value_length = value_length;
  return 0;
}

const store_entry *store_get(const store *s, const char *key, size_t key_length) {
  return *slot(s, key, key_length);
}

int store_delete(store *s, const char *key, size_t key_length) {
  store_entry **e = slot(s, key, key_length);
  if (!*e) return 0;
  store_entry *gone = *e;
  *e = gone->next;
  free(gone->key);
  free(gone->value);
  free(gone);
  --s->size;
  return 1;
}
