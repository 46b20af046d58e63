// StreamHandle: a libuv stream that is a unix socket (uv_pipe_t) or a TCP
// socket (uv_tcp_t), owned like any UvHandle. The control socket and the
// metrics endpoint share their server and connection code through it.
#pragma once

#include <uv.h>

#include <memory>
#include <variant>

#include "baton/status.h"
#include "baton/unique_fd.h"
#include "baton/uv_handle.h"

namespace baton {

class StreamHandle {
 public:
  enum class Kind { kUnix, kTcp };

  // An initialized handle whose callbacks reach `owner` (handle->data).
  static Result<StreamHandle> make(uv_loop_t* loop, Kind kind, void* owner);
  // A handle of the kind `server` listens on, holding its next connection.
  static Result<StreamHandle> accept(uv_stream_t* server, void* owner);

  // Takes a socket bound elsewhere (BoundListener::take_fd()).
  Status open(UniqueFd fd);
  uv_stream_t* stream() const;
  void close();

 private:
  std::variant<std::unique_ptr<UvHandle<uv_pipe_t>>, std::unique_ptr<UvHandle<uv_tcp_t>>> handle_;
};

}  // namespace baton
