/* One HTTP/1.1 request out of a connection's input, with http-parser. */
#ifndef CKV_HTTP_H
#define CKV_HTTP_H

#include <stddef.h>

#include "buffer.h"

typedef struct request {
  char method[8];
  char path[1024];
  buffer body;
  int keep_alive;
} request;

typedef enum { REQUEST_INCOMPLETE, REQUEST_COMPLETE, REQUEST_BAD } request_result;

/* Parses the first request in input[0..length). On REQUEST_COMPLETE, *used
 * is its length in bytes; the caller frees r->body. */
request_result parse_request(const char *input, size_t length, request *r, size_t *used);

#endif
