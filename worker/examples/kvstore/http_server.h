// kvstore's HTTP server: accepts on the listeners it is given, tracks its
// connections, and drains: stop accepting, answer every request already on
// its way, then close; silent connections are closed at the deadline.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <unordered_set>
#include <vector>

#include "baton/listener_spec.h"
#include "baton/status.h"
#include "baton/unique_fd.h"
#include "baton/uv_handle.h"
#include "routes.h"

namespace kvstore {

class HttpConnection;

class HttpServer {
 public:
  HttpServer(uv_loop_t* loop, ServerFacts facts);
  ~HttpServer();

  // Starts accepting on a stream listener (tcp:// or unix://).
  baton::Status listen(baton::UniqueFd fd, const baton::ListenerSpec& spec);

  // Stops accepting; `on_done` runs once the last connection has closed
  // (connections still open at `deadline` are closed then).
  void drain(std::chrono::milliseconds deadline, std::function<void()> on_done);
  // Closes every listener and connection now.
  void stop_now();
  bool draining() const { return draining_; }

  // For HttpConnection.
  uv_loop_t* loop() const { return loop_; }
  Response handle(const Request& request);
  void adopt(HttpConnection* connection) { connections_.insert(connection); }
  void forget(HttpConnection* connection);

 private:
  static void on_connection(uv_stream_t* listener, int status);
  void close_listeners();
  void maybe_done();

  uv_loop_t* loop_;
  ServerFacts facts_;
  Store store_;
  struct Listener {
    baton::UvHandle<uv_any_handle> handle;
    HttpServer* server = nullptr;
    bool is_tcp = true;
  };
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unordered_set<HttpConnection*> connections_;
  bool draining_ = false;
  std::function<void()> on_done_;
  baton::Timer deadline_;
};

}  // namespace kvstore
