// StreamConnection: one accepted client on baton's loop, for the control
// socket and the metrics endpoint. It reads into a buffer no larger than
// `max_request` bytes, gives up on a client that has not sent its request
// within a deadline, writes replies, and closes. A slow, silent or hostile
// client therefore costs one fd and a few KiB, never a stalled loop.
#pragma once

#include <uv.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "baton/status.h"
#include "baton/uv_handle.h"
#include "stream_handle.h"

namespace baton {

class StreamConnection {
 public:
  class Events {
   public:
    // More bytes arrived; `request` is everything read so far.
    virtual void on_request_bytes(StreamConnection& c, std::string_view request) = 0;
    // The client sent more than max_request bytes, or nothing complete
    // within the deadline. The connection closes after this.
    virtual void on_bad_request(StreamConnection& c, const std::string& why) = 0;
    // The connection is closed (by either side). Last call: the owner may
    // destroy it from here.
    virtual void on_closed(StreamConnection& c) = 0;

   protected:
    ~Events() = default;
  };

  // Accepts the pending connection on `server` (a listening uv_pipe_t or
  // uv_tcp_t) and starts reading.
  static Result<std::unique_ptr<StreamConnection>> accept(uv_stream_t* server, Events& events,
                                                          std::size_t max_request,
                                                          std::chrono::milliseconds deadline);
  ~StreamConnection() = default;
  StreamConnection(const StreamConnection&) = delete;
  StreamConnection& operator=(const StreamConnection&) = delete;

  int fd() const;
  // The request was whole: no more deadline, no more reading (a waiting
  // client's connection then only closes when either side closes it).
  void request_complete();
  // Queues `text`; with `then_close`, closes once it is written.
  void write(std::string text, bool then_close);
  // Closes now; on_closed follows.
  void close();

 private:
  StreamConnection(uv_loop_t* loop, Events& events, std::size_t max_request);
  uv_stream_t* stream() const;
  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  void reject(const std::string& why);

  Events& events_;
  std::size_t max_request_;
  StreamHandle handle_;
  Timer deadline_;
  std::string request_;
  char chunk_[4096];
  bool closed_ = false;
};

}  // namespace baton
