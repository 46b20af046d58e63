// StreamConnection: one accepted client on baton's loop, for the control
// socket and the metrics endpoint. It reads into a buffer no larger than
// `max_request` bytes, gives up on a client that has not sent its request
// within a deadline, writes replies, and closes. Reads after the first are
// paced (one per 20 ms), so a client dribbling bytes costs a few reads a
// second. A slow, silent or hostile client therefore costs one fd and a few
// KiB, never a stalled loop or a busy CPU.
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
    // More bytes arrived; `request` is everything read so far, of which the
    // last `fresh` bytes are new (look for the request's end in those alone:
    // a client sending a byte at a time must cost little per byte).
    virtual void on_request_bytes(StreamConnection& c, std::string_view request, std::size_t fresh) = 0;
    // The client sent more than max_request bytes (kTooLong), or nothing
    // complete within the deadline (kTooSlow). The connection closes after this.
    enum class Bad { kTooLong, kTooSlow };
    virtual void on_bad_request(StreamConnection& c, Bad kind, const std::string& why) = 0;
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
  // Reads what the client sent already, without waiting for the loop: a
  // probe that sent its request with its connect is answered at accept.
  void read_now();
  // Still waiting for a whole request (neither answered nor closing): what
  // a full server closes first, the oldest first.
  bool waiting_for_request() const { return !closed_ && !complete_; }
  // Bytes the client sent that baton has not read yet: it is not idle.
  bool has_unread_bytes() const;
  std::chrono::steady_clock::time_point accepted_at() const { return accepted_at_; }
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
  void start_reading();
  void reject(Events::Bad kind, const std::string& why);
  void received(std::string_view bytes);

  Events& events_;
  std::size_t max_request_;
  StreamHandle handle_;
  Timer deadline_;
  Timer read_pause_;  // paces reads after the first (a byte-at-a-time client)
  unsigned reads_ = 0;
  std::string request_;
  char chunk_[4096];
  std::chrono::steady_clock::time_point accepted_at_ = std::chrono::steady_clock::now();
  bool complete_ = false;  // answered, or rejected: no more request bytes are taken
  bool closed_ = false;
};

}  // namespace baton
