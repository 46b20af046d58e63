#include "buffer.h"

#include <stdlib.h>
#include <string.h>

int buffer_append(buffer *b, const void *bytes, size_t length) {
  if (b->length + length > b->capacity) {
    size_t capacity = b->capacity ? b->capacity : 256;
    while (capacity < b->length + length) capacity *= 2;
    char *data = realloc(b->data, capacity);
    if (!data) return -1;
    b->data = data;
    b->capacity = capacity;
  }
  if (length) memcpy(b->data + b->length, bytes, length);
  b->length += length;
  return 0;
}

int buffer_resize(buffer *b, size_t length) {
  if (length > b->capacity) {
    char *data = realloc(b->data, length);
    if (!data) return -1;
    b->data = data;
    b->capacity = length;
  }
  b->length = length;
  return 0;
}

void buffer_consume(buffer *b, size_t length) {
  memmove(b->data, b->data + length, b->length - length);
  b->length -= length;
}

void buffer_free(buffer *b) {
  free(b->data);
  b->data = NULL;
  b->length = b->capacity = 0;
}
