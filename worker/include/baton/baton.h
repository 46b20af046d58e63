/* libbaton for C: the same worker library as baton/worker.h, behind a C ABI,
 * for workers written in C or in any language with a C FFI.
 *
 *   uv_loop_t *loop = uv_default_loop();
 *   const char *listen[] = {"http=tcp://127.0.0.1:8080", NULL};
 *   baton_options options = {.name = "myapp 1.0", .standalone_listen = listen};
 *   baton_worker *w = baton_create(loop, &options);
 *   if (!w) { fprintf(stderr, "%s\n", baton_create_error()); return 1; }
 *   int fd = baton_take_listener(w, "http");        // a listening socket
 *   ... uv_tcp_open(&server, fd); uv_listen(...);
 *   baton_on_drain(w, on_drain, app);               // stop accepting, finish, exit
 *   if (baton_ready(w) != 0) { fprintf(stderr, "%s\n", baton_error(w)); return 1; }
 *   uv_run(loop, UV_RUN_DEFAULT);
 *   baton_destroy(w);
 *
 * Handoff mode: baton_on_handoff() and baton_on_restore() with the callbacks
 * below; worker/README.md says what each must do. Everything happens on the
 * loop's thread; no callback may be called from another. Calls that can fail
 * return 0, or -1 and keep a message for baton_error() until the next call.
 */
#ifndef BATON_BATON_H
#define BATON_BATON_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct baton_worker baton_worker;

typedef struct baton_options {
  const char *name;                     /* shown in baton's logs, e.g. "myapp 1.0" */
  const char *const *standalone_listen; /* NULL-terminated "NAME=URL" list bound when not under baton; may be NULL */
  unsigned handshake_timeout_ms;        /* 0: 10000 */
} baton_options;

/* Connects to baton (or binds the standalone listeners). NULL on failure:
 * baton_create_error() says why (valid until the next baton_create on this thread). */
baton_worker *baton_create(uv_loop_t *loop, const baton_options *options);
const char *baton_create_error(void);
void baton_destroy(baton_worker *w);
const char *baton_error(const baton_worker *w);

int baton_supervised(const baton_worker *w);  /* 1 under baton, 0 standalone */
uint64_t baton_generation(const baton_worker *w); /* 0 when standalone */
uint32_t baton_index(const baton_worker *w);
/* The listening socket called `name`: its fd, now the caller's; -1 if there is none. */
int baton_take_listener(baton_worker *w, const char *name);

typedef enum baton_drain_reason {
  BATON_DRAIN_REQUESTED = 0,     /* an upgrade or a stop */
  BATON_DRAIN_SUPERVISOR_GONE = 1 /* baton died: finish up, do not linger */
} baton_drain_reason;
/* Stop accepting, finish in-flight work within deadline_ms, then exit. */
typedef void (*baton_drain_fn)(void *data, baton_drain_reason reason, uint64_t deadline_ms);
void baton_on_drain(baton_worker *w, baton_drain_fn fn, void *data);
int baton_ready(baton_worker *w);
int baton_report_error(baton_worker *w, const char *message);
/* While serving: it cannot serve well; under --probation baton rolls its generation back. */
int baton_report_unhealthy(baton_worker *w, const char *reason);
/* How many client connections it holds now; call on every change. Sent to baton only once told to go. */
void baton_report_connections(baton_worker *w, size_t count);
void baton_finish(baton_worker *w);
/* 1 when a previous generation will hand over its state: do not accept yet. */
int baton_awaiting_handoff(const baton_worker *w);

/* ---- handoff mode, the old worker's side ---- */
typedef struct baton_writer baton_writer;
typedef struct baton_connections baton_connections;
/* Appends state bytes; 0, or -1 if the stream failed. */
int baton_write(baton_writer *out, const void *bytes, size_t length);
/* Lends one client connection to the successor (the fd stays yours until
 * committed or resume). pending: bytes read but not processed; app: your
 * data for it (at most 32 KiB); unsent: response bytes not yet written. */
int baton_export_connection(baton_connections *list, int fd, const void *pending, size_t pending_length,
                            const void *app, size_t app_length, const void *unsent, size_t unsent_length);

typedef struct baton_handoff_source {
  uint32_t state_version; /* the schema save_state writes */
  void *data;             /* passed to every callback */
  /* Stop accepting and reading at a request boundary, then call quiesced(token), now or soon. */
  void (*quiesce)(void *data, void (*quiesced)(void *token), void *token);
  /* Write the state with baton_write; return nonzero to refuse the handoff. */
  int (*save_state)(void *data, baton_writer *out);
  void (*export_connections)(void *data, baton_connections *out);
  void (*resume)(void *data);    /* the handoff was abandoned: accept and read again */
  void (*committed)(void *data); /* the successor serves: close what was lent, finish, exit */
  /* Optional (baton --probation): close what was lent but keep the state and
     the listeners; resume or committed follows. NULL: this worker cannot park. */
  void (*park)(void *data);
} baton_handoff_source;
void baton_on_handoff(baton_worker *w, const baton_handoff_source *source);

/* ---- handoff mode, the new worker's side ---- */
typedef struct baton_reader baton_reader;
/* Reads up to `length` state bytes; how many, 0 at the end. */
size_t baton_read(baton_reader *in, void *buffer, size_t length);

typedef struct baton_handed_connection {
  int fd; /* yours from now on */
  const char *pending; size_t pending_length;
  const char *app; size_t app_length;
  const char *unsent; size_t unsent_length;
} baton_handed_connection;

typedef struct baton_handoff_target {
  const uint32_t *state_versions; /* the schemas load_state reads */
  size_t state_version_count;
  void *data;
  /* Read exactly the whole state with baton_read; return nonzero to refuse it. */
  int (*load_state)(void *data, baton_reader *in, uint32_t version);
  /* Take the connections (the pointers live only during the call); do not serve before commit. */
  void (*adopt_connections)(void *data, const baton_handed_connection *connections, size_t count);
  void (*commit)(void *data); /* start accepting and serving, adopted connections first */
} baton_handoff_target;
void baton_on_restore(baton_worker *w, const baton_handoff_target *target);

/* ---- UDP flow steering (optional; worker/README.md, "UDP flows") ---- */

struct sockaddr;
typedef struct baton_flow_steering {
  void *data; /* passed to both callbacks */
  /* The tag in this datagram's flow id (baton_flow_tag() of the worker that
     created the flow), or 0 when it starts a flow or names none. */
  uint32_t (*classify)(void *data, const char *listener, const struct sockaddr *from, const void *datagram,
                       size_t length);
  /* Another worker read this datagram of one of our flows: serve it as if read
     from `listener`'s socket, answering through that socket to `from`. */
  void (*deliver)(void *data, const char *listener, const struct sockaddr *from, const void *datagram,
                  size_t length);
} baton_flow_steering;
/* Before baton_ready(). */
void baton_on_flows(baton_worker *w, const baton_flow_steering *steering);
/* Write it into every flow id this worker creates; 0 when not steering. */
uint32_t baton_flow_tag(const baton_worker *w);
/* Call for each datagram read from a UDP listener: 1 if it went to its owner
   (drop it), 0 to serve it here. */
int baton_steer(baton_worker *w, const char *listener, const struct sockaddr *from, const void *datagram,
                size_t length);

#ifdef __cplusplus
}
#endif

#endif /* BATON_BATON_H */
