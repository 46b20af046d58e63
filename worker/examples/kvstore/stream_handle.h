// kvstore serves TCP and unix stream sockets alike, in one uv_any_handle of
// either kind. Both return libuv's code; on success libuv owns `fd`.
#pragma once

#include <uv.h>

namespace kvstore {

inline int init_stream(uv_loop_t* loop, uv_any_handle* h, bool tcp) {
  return tcp ? uv_tcp_init(loop, &h->tcp) : uv_pipe_init(loop, &h->pipe, 0);
}

inline int open_stream(uv_any_handle* h, bool tcp, int fd) {
  return tcp ? uv_tcp_open(&h->tcp, fd) : uv_pipe_open(&h->pipe, fd);
}

}  // namespace kvstore
