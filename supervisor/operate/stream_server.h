// StreamServer: a listening socket on baton's loop (a unix socket or TCP)
// whose clients are StreamConnections with the same limits: the control
// socket and the metrics endpoint are each one.
//
// Idle clients cannot lock others out: at `max_clients` at once, a new client
// closes the oldest idle one: still waiting for its request, with nothing
// unread (only when no client is idle is the newest refused); and whatever a
// client sent with its connect is read at accept. So a probe that
// sends a whole request promptly is answered however many idle or slow
// clients hold connections. Such closings are logged through a RepeatedLog.
#pragma once

#include <uv.h>

#include <functional>
#include <list>
#include <memory>
#include <string>

#include "baton/listener_socket.h"
#include "baton/uv_handle.h"
#include "repeated_log.h"
#include "stream_connection.h"
#include "stream_handle.h"

namespace baton {

// The listen backlog of the control socket and the metrics endpoint: room
// for a burst of clients while the loop is busy, so that a probe's connect
// is queued, not dropped to a 1 s SYN retry.
inline constexpr int kListenBacklog = 1024;

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
  bool make_room();
  uv_stream_t* stream() const;

  uv_loop_t* loop_;
  BoundListener socket_;  // a unix socket's file is removed when this goes
  Limits limits_;
  std::string what_;
  StreamHandle handle_;
  StreamConnection::Events* events_ = nullptr;
  std::function<void(StreamConnection&)> accepted_;
  std::list<std::unique_ptr<StreamConnection>> connections_;  // oldest first
  RepeatedLog accept_failed_, evicted_, refused_;
};

}  // namespace baton
