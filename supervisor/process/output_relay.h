// OutputRelays: each worker's stdout and stderr are pipes that baton reads
// and logs line by line under the worker's name. A worker then never writes
// to a stream that can kill it (baton's own stderr may be a pipe whose
// reader is gone; baton survives that, a worker would die of SIGPIPE), and
// its lines join baton's log, escaped so that they cannot forge lines.
//
// A relay outlives its worker: the worker's own children may hold the pipe,
// so a relay reads until EOF and then goes. The destructor ends every relay
// still reading (baton is stopping). One loop, one thread.
#pragma once

#include <spdlog/logger.h>
#include <uv.h>

#include <chrono>
#include <list>
#include <memory>
#include <string>

#include "baton/status.h"
#include "baton/uv_handle.h"

namespace baton {

class OutputRelays;

class OutputRelay {
 public:
  // Starts reading once the child runs; lines are logged as "WHO: line",
  // from `stream` ("stdout" or "stderr").
  void start(std::string who, const char* stream);

 private:
  friend class OutputRelays;
  explicit OutputRelay(OutputRelays& owner) : owner_(owner) {}
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  void take(const char* data, std::size_t len);
  void log_line(std::string_view line);

  OutputRelays& owner_;
  std::list<std::unique_ptr<OutputRelay>>::iterator self_;
  UvHandle<uv_pipe_t> pipe_;
  std::string who_;
  const char* stream_name_ = "";
  std::shared_ptr<spdlog::logger> logger_;  // "stdout" or "stderr" (logging.h)
  std::string partial_;  // the start of a line whose end has not arrived
  char buffer_[4096];
};

class OutputRelays {
 public:
  explicit OutputRelays(uv_loop_t* loop) : loop_(loop) {}
  OutputRelays(const OutputRelays&) = delete;
  OutputRelays& operator=(const OutputRelays&) = delete;
  ~OutputRelays() = default;  // each relay's handle closes

  // A relay for the read end of a worker's stdout or stderr pipe (a new
  // worker's, or one handed over by baton upgrade --self); it owns `fd`.
  Result<OutputRelay*> adopt(int fd);
  // The pipe fd of the relay started for `who`'s `stream`, -1 if none reads it now.
  int fd_of(const std::string& who, const char* stream) const;
  // A relay whose worker never started, or whose pipe reached EOF.
  void discard(OutputRelay* relay) { relays_.erase(relay->self_); }
  // Runs the loop until every relay has reached EOF (the workers' last
  // words are logged), or `limit` passes: a worker's child may hold a pipe
  // for ever. For baton's exit, outside any callback.
  void finish(std::chrono::milliseconds limit);

 private:
  // A new relay with its pipe handle initialized, owned here until EOF (or discard()).
  Result<OutputRelay*> create();

  uv_loop_t* loop_;
  std::list<std::unique_ptr<OutputRelay>> relays_;
};

}  // namespace baton
