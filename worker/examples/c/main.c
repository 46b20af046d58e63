/* ckv: kvstore again, in C, against libbaton's C API (baton/baton.h) and
 * http-parser: GET/PUT/DELETE /kv/KEY, GET /stats, GET /healthz. In handoff
 * mode its store and its open keep-alive connections move to the next ckv.
 *
 * Sockets are driven with uv_poll and plain recv()/send(), so every byte not
 * yet processed (pending) or not yet sent (unsent) sits in our own buffers,
 * ready to travel with its connection. */
#define _GNU_SOURCE
#include <baton/baton.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "buffer.h"
#include "http.h"
#include "store.h"

enum { STATE_VERSION = 1 };

typedef struct server server;

typedef struct conn {
  uv_poll_t poll;
  int fd;
  buffer in, out;  /* unprocessed input, unsent output */
  int close_after; /* close once `out` is sent (Connection: close) */
  server *srv;
  struct conn *prev, *next;
} conn;

struct server {
  uv_loop_t *loop;
  baton_worker *worker;
  store kv;
  int listen_fd;
  uv_poll_t listen_poll;
  uv_timer_t deadline;
  int paused;   /* quiesced for a handoff, or standing by: neither accept nor read */
  int draining; /* answering with Connection: close, exiting when no connection is left */
  unsigned long requests;
  conn *conns;
};

static void serve(conn *c);

/* ---- connections ---------------------------------------------------------- */

static void free_conn(uv_handle_t *h) {
  conn *c = h->data;
  buffer_free(&c->in);
  buffer_free(&c->out);
  free(c);
}

static void stop_listening(server *s) {
  if (s->listen_fd < 0) return;
  uv_close((uv_handle_t *)&s->listen_poll, NULL);
  close(s->listen_fd);
  s->listen_fd = -1;
}

static void finish_if_drained(server *s) {
  if (!s->draining || s->conns) return;
  uv_close((uv_handle_t *)&s->deadline, NULL);
  fprintf(stderr, "ckv[%d]: drained; exiting\n", getpid());
}

/* Closes the fd without shutdown(): a lent fd lives on in the successor. */
static void close_conn(conn *c) {
  server *s = c->srv;
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  close(c->fd);
  uv_close((uv_handle_t *)&c->poll, free_conn);
  finish_if_drained(s);
}

static void on_poll(uv_poll_t *h, int status, int events);

static conn *add_conn(server *s, int fd) {
  conn *c = calloc(1, sizeof *c);
  if (!c || uv_poll_init(s->loop, &c->poll, fd) != 0) {
    free(c);
    close(fd);
    return NULL;
  }
  c->fd = fd;
  c->srv = s;
  c->poll.data = c;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  return c;
}

/* Sends what it can of `out`; 0, or -1 when the connection is gone. */
static int flush(conn *c) {
  while (c->out.length > 0) {
    ssize_t n = send(c->fd, c->out.data, c->out.length, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    if (n < 0) {
      close_conn(c);
      return -1;
    }
    buffer_consume(&c->out, (size_t)n);
  }
  if (c->close_after) {
    close_conn(c);
    return -1;
  }
  return 0;
}

static void watch(conn *c) {
  int events = (c->srv->paused || c->close_after ? 0 : UV_READABLE) | (c->out.length ? UV_WRITABLE : 0);
  if (events) uv_poll_start(&c->poll, events, on_poll);
  else uv_poll_stop(&c->poll);
}

/* ---- requests ------------------------------------------------------------- */

static void respond(conn *c, int status, const char *body, size_t length, int keep_alive) {
  const char *reason = status == 200 ? "OK" : status == 404 ? "Not Found" : status == 503 ? "Service Unavailable"
                                                                                          : "Bad Request";
  char head[256];
  int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                   "Connection: %s\r\n\r\n", status, reason, length, keep_alive ? "keep-alive" : "close");
  buffer_append(&c->out, head, (size_t)n);
  buffer_append(&c->out, body, length);
  if (!keep_alive) c->close_after = 1;
}

static void respond_text(conn *c, int status, const char *text, int keep_alive) {
  respond(c, status, text, strlen(text), keep_alive);
}

/* GET, PUT and DELETE /kv/KEY. */
static void route_kv(conn *c, request *r, const char *key, int keep_alive) {
  store *kv = &c->srv->kv;
  const size_t key_length = strlen(key);
  if (strcmp(r->method, "PUT") == 0) {
    int ok = store_put(kv, key, key_length, r->body.data ? r->body.data : "", r->body.length) == 0;
    respond_text(c, ok ? 200 : 503, ok ? "stored\n" : "out of memory\n", keep_alive);
  } else if (strcmp(r->method, "DELETE") == 0 && store_delete(kv, key, key_length)) {
    respond_text(c, 200, "deleted\n", keep_alive);
  } else {
    const store_entry *e = strcmp(r->method, "GET") == 0 ? store_get(kv, key, key_length) : NULL;
    if (e) respond(c, 200, e->value, e->value_length, keep_alive);
    else respond_text(c, 404, "not found\n", keep_alive);
  }
}

static void route(conn *c, request *r, int keep_alive) {
  server *s = c->srv;
  const unsigned long long generation = (unsigned long long)baton_generation(s->worker);
  char text[256];
  if (strncmp(r->path, "/kv/", 4) == 0 && r->path[4]) {
    route_kv(c, r, r->path + 4, keep_alive);
  } else if (strcmp(r->path, "/stats") == 0) {
    snprintf(text, sizeof text, "{\"pid\":%d,\"generation\":%llu,\"keys\":%zu,\"requests\":%lu}\n", getpid(),
             generation, s->kv.size, s->requests);
    respond_text(c, 200, text, keep_alive);
  } else if (strcmp(r->path, "/healthz") == 0) {
    respond_text(c, s->draining ? 503 : 200, s->draining ? "draining\n" : "ok\n", keep_alive);
  } else if (strcmp(r->path, "/") == 0) {
    snprintf(text, sizeof text, "baton ckv (C): pid %d, generation %llu\n", getpid(), generation);
    respond_text(c, 200, text, keep_alive);
  } else {
    respond_text(c, 404, "not found\n", keep_alive);
  }
}

/* Answers every whole request in `in`; what is left is an unfinished one. */
static void serve(conn *c) {
  while (c->in.length > 0 && !c->close_after && !c->srv->paused) {
    request r;
    size_t used = 0;
    request_result result = parse_request(c->in.data, c->in.length, &r, &used);
    if (result == REQUEST_INCOMPLETE) break;
    if (result == REQUEST_BAD) {
      respond_text(c, 400, "bad request\n", 0);
      break;
    }
    ++c->srv->requests;
    route(c, &r, r.keep_alive && !c->srv->draining);
    buffer_free(&r.body);
    buffer_consume(&c->in, used);
  }
  if (flush(c) == 0) watch(c);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  conn *c = h->data;
  if (status < 0) {
    close_conn(c);
    return;
  }
  if (events & UV_WRITABLE) {
    if (flush(c) != 0) return;
  }
  if (events & UV_READABLE) {
    char chunk[16384];
    ssize_t n;
    while ((n = recv(c->fd, chunk, sizeof chunk, 0)) > 0) buffer_append(&c->in, chunk, (size_t)n);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      close_conn(c);
      return;
    }
    serve(c);
    return;
  }
  watch(c);
}

/* ---- accepting, draining ---------------------------------------------------- */

static void on_accept(uv_poll_t *h, int status, int events) {
  server *s = h->data;
  (void)events;
  if (status < 0) return;
  for (int fd; (fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
    conn *c = add_conn(s, fd);
    if (c) watch(c);
  }
}

static void start_accepting(server *s) {
  if (s->listen_fd >= 0) uv_poll_start(&s->listen_poll, UV_READABLE, on_accept);
}

static void on_deadline(uv_timer_t *t) {
  server *s = t->data;
  while (s->conns) close_conn(s->conns);
}

static void on_drain(void *data, baton_drain_reason reason, uint64_t deadline_ms) {
  server *s = data;
  fprintf(stderr, "ckv[%d]: draining (%s): listener closed; finishing connections within %llu ms\n", getpid(),
          reason == BATON_DRAIN_REQUESTED ? "DRAIN from baton" : "baton is gone", (unsigned long long)deadline_ms);
  s->draining = 1;
  stop_listening(s);
  uv_timer_start(&s->deadline, on_deadline, deadline_ms, 0);
  finish_if_drained(s);
}

/* ---- handoff: the old worker's side ----------------------------------------- */

static void quiesce(void *data, void (*quiesced)(void *), void *token) {
  server *s = data;
  s->paused = 1; /* requests are answered as they arrive: we are at a boundary */
  uv_poll_stop(&s->listen_poll);
  for (conn *c = s->conns; c; c = c->next) uv_poll_stop(&c->poll);
  quiesced(token);
}

static int write_u32(baton_writer *out, uint32_t v) { return baton_write(out, &v, sizeof v); }

/* The state: u32 count, then per entry u32 key length, key, u32 value length, value. */
static int save_state(void *data, baton_writer *out) {
  server *s = data;
  int rc = write_u32(out, (uint32_t)s->kv.size);
  for (size_t b = 0; b < s->kv.bucket_count && rc == 0; ++b) {
    for (const store_entry *e = s->kv.buckets[b]; e && rc == 0; e = e->next) {
      rc |= write_u32(out, (uint32_t)e->key_length) | baton_write(out, e->key, e->key_length);
      rc |= write_u32(out, (uint32_t)e->value_length) | baton_write(out, e->value, e->value_length);
    }
  }
  return rc;
}

static void export_connections(void *data, baton_connections *out) {
  server *s = data;
  for (conn *c = s->conns; c; c = c->next)
    baton_export_connection(out, c->fd, c->in.data, c->in.length, NULL, 0, c->out.data, c->out.length);
}

static void resume(void *data) {
  server *s = data;
  s->paused = 0;
  start_accepting(s);
  for (conn *c = s->conns; c; c = c->next) watch(c);
}

/* baton --probation: the successor serves on probation. Keep the store and
   the listener for a resume; the lent connections are the successor's. */
static void park(void *data) {
  server *s = data;
  while (s->conns) close_conn(s->conns);
  fprintf(stderr, "ckv[%d]: handed over; parked with %zu keys\n", getpid(), s->kv.size);
}

static void committed(void *data) {
  server *s = data;
  stop_listening(s);
  while (s->conns) close_conn(s->conns);
  uv_close((uv_handle_t *)&s->deadline, NULL);
  fprintf(stderr, "ckv[%d]: handed over; exiting\n", getpid());
}

/* ---- handoff: the new worker's side ----------------------------------------- */

static int read_exact(baton_reader *in, void *buffer, size_t length) {
  return baton_read(in, buffer, length) == length ? 0 : -1;
}

static int load_state(void *data, baton_reader *in, uint32_t version) {
  server *s = data;
  uint32_t count = 0, length = 0;
  if (version != STATE_VERSION || read_exact(in, &count, sizeof count) != 0) return -1;
  buffer key = {0}, value = {0};
  int rc = 0;
  for (uint32_t i = 0; i < count && rc == 0; ++i) {
    rc = read_exact(in, &length, sizeof length) || buffer_resize(&key, length) ||
         read_exact(in, key.data, length) || read_exact(in, &length, sizeof length) ||
         buffer_resize(&value, length) || read_exact(in, value.data, length) ||
         store_put(&s->kv, key.data, key.length, value.data ? value.data : "", value.length);
  }
  buffer_free(&key);
  buffer_free(&value);
  return rc;
}

static void adopt_connections(void *data, const baton_handed_connection *handed, size_t count) {
  server *s = data;
  for (size_t i = 0; i < count; ++i) {
    conn *c = add_conn(s, handed[i].fd);
    if (!c) continue;
    buffer_append(&c->in, handed[i].pending, handed[i].pending_length);
    buffer_append(&c->out, handed[i].unsent, handed[i].unsent_length);
  }
}

static void commit(void *data) {
  server *s = data;
  s->paused = 0;
  start_accepting(s);
  for (conn *c = s->conns, *next; c; c = next) {
    next = c->next;
    serve(c); /* unsent output first, then pending input, then reading */
  }
}

/* ---- main ------------------------------------------------------------------- */

int main(void) {
  static server s = {.listen_fd = -1};
  s.loop = uv_default_loop();
  const char *listen[] = {"http=tcp://127.0.0.1:8091", NULL};
  baton_options options = {.name = "ckv 0.1.0", .standalone_listen = listen};
  if (!(s.worker = baton_create(s.loop, &options))) {
    fprintf(stderr, "ckv: %s\n", baton_create_error());
    return 1;
  }
  if (store_init(&s.kv) != 0 || (s.listen_fd = baton_take_listener(s.worker, "http")) < 0) {
    fprintf(stderr, "ckv: %s\n", s.listen_fd < 0 ? baton_error(s.worker) : "out of memory");
    return 1;
  }
  uv_poll_init(s.loop, &s.listen_poll, s.listen_fd);
  s.listen_poll.data = &s;
  uv_timer_init(s.loop, &s.deadline);
  s.deadline.data = &s;
  baton_on_drain(s.worker, on_drain, &s);
  baton_handoff_source source = {STATE_VERSION, &s, quiesce, save_state, export_connections, resume, committed, park};
  static const uint32_t versions[] = {STATE_VERSION};
  baton_handoff_target target = {versions, 1, &s, load_state, adopt_connections, commit};
  baton_on_handoff(s.worker, &source);
  baton_on_restore(s.worker, &target);
  s.paused = baton_awaiting_handoff(s.worker);
  if (!s.paused) start_accepting(&s);
  if (baton_ready(s.worker) != 0) {
    fprintf(stderr, "ckv: %s\n", baton_error(s.worker));
    return 1;
  }
  fprintf(stderr, "ckv[%d]: serving generation %llu\n", getpid(), (unsigned long long)baton_generation(s.worker));
  uv_run(s.loop, UV_RUN_DEFAULT);
  baton_destroy(s.worker);
  store_free(&s.kv);
  return 0;
}
