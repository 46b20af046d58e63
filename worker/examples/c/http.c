#include "http.h"

#include <http_parser.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  request *r;
  size_t path_length;
  int complete, too_long;
} parse_state;

static int on_url(http_parser *p, const char *at, size_t n) {
  parse_state *s = p->data;
  if (s->path_length + n >= sizeof s->r->path) return s->too_long = 1;
  memcpy(s->r->path + s->path_length, at, n);
  s->path_length += n;
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
  parse_state *s = p->data;
  return buffer_append(&s->r->body, at, n) == 0 && s->r->body.length <= (1u << 20) ? 0 : (s->too_long = 1);
}

static int on_complete(http_parser *p) {
  parse_state *s = p->data;
  s->complete = 1;
  http_parser_pause(p, 1); /* one request at a time: the rest stays unparsed */
  return 0;
}

request_result parse_request(const char *input, size_t length, request *r, size_t *used) {
  static const http_parser_settings settings = {.on_url = on_url, .on_body = on_body, .on_message_complete = on_complete};
  memset(r, 0, sizeof *r);
  parse_state s = {.r = r};
  http_parser parser;
  http_parser_init(&parser, HTTP_REQUEST);
  parser.data = &s;
  *used = http_parser_execute(&parser, &settings, input, length);
  if (s.complete) {
    r->path[s.path_length] = '\0';
    snprintf(r->method, sizeof r->method, "%s", http_method_str((enum http_method)parser.method));
    r->keep_alive = http_should_keep_alive(&parser);
    return REQUEST_COMPLETE;
  }
  buffer_free(&r->body);
  if (s.too_long || HTTP_PARSER_ERRNO(&parser) != HPE_OK) return REQUEST_BAD;
  return REQUEST_INCOMPLETE;
}
