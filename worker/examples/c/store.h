/* A string -> string hash map with chaining: the C worker's state. */
#ifndef CKV_STORE_H
#define CKV_STORE_H

#include <stddef.h>

typedef struct store_entry {
  char *key, *value;
  size_t key_length, value_length;
  struct store_entry *next;
} store_entry;

typedef struct store {
  store_entry **buckets;
  size_t bucket_count, size;
} store;

int store_init(store *s);
void store_free(store *s);
/* Copies key and value; 0, or -1 when out of memory. */
int store_put(store *s, const char *key, size_t key_length, const char *value, size_t value_length);
const store_entry *store_get(const store *s, const char *key, size_t key_length);
int store_delete(store *s, const char *key, size_t key_length); /* 1 if it was there */

#endif
