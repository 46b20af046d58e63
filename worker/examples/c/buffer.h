/* A growable byte buffer. */
#ifndef CKV_BUFFER_H
#define CKV_BUFFER_H

#include <stddef.h>

typedef struct buffer {
  char *data;
  size_t length, capacity;
} buffer;

int buffer_append(buffer *b, const void *bytes, size_t length); /* 0, or -1 out of memory */
int buffer_resize(buffer *b, size_t length);                    /* new bytes are unset */
void buffer_consume(buffer *b, size_t length);                  /* drops the first `length` bytes */
void buffer_free(buffer *b);

#endif
