// StreamServer: a listening socket on baton's loop (a unix socket or TCP)
// whose clients are StreamConnections with the same limits: the control
// socket and the metrics endpoint are each one. Beyond `max_clients` at once,
// a new client is closed at once (and logged).
#pragma once

#include <uv.h>

#include <functional>
#include <list>
#include <memory>
#include <string>

#include "baton/listener_socket.h"
#include "baton/uv_handle.h"
#include "stream_connection.h"
#include "stream_handle.h"

namespace baton {

class StreamServer {
 public:
  struct Limits {
    std::size_t max_request;
    std::chrono::milliseconds deadline;
    std::size_t max_clients = 64;
  };

  // `what` names it in log lines ("control socket", "metrics").
  StreamServer(uv_loop_t* loop, BoundListener socket, Limits limits, std::string what);

  // Starts accepting; each client reports to `events`, and `accepted` runs
  // for it first.
  Status listen(StreamConnection::Events& events, std::function<void(StreamConnection&)> accepted);
  // Call from Events::on_closed: destroys the connection.
  void forget(StreamConnection& c);
  const ListenerSpec& spec() const { return socket_.spec(); }
  // The listening socket's fd, once listen() has handed it to libuv (-1 before).
  int fd() const;

 private:
  void accept_one();
  uv_stream_t* stream() const;

  uv_loop_t* loop_;
  BoundListener socket_;  // a unix socket's file is removed when this goes
  Limits limits_;
  std::string what_;
  StreamHandle handle_;
  StreamConnection::Events* events_ = nullptr;
  std::function<void(StreamConnection&)> accepted_;
  std::list<std::unique_ptr<StreamConnection>> connections_;
};

}  // namespace baton
