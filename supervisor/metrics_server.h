// The --metrics endpoint: a small HTTP/1.1 server on baton's loop that
// answers GET /metrics with Metrics::scrape() and closes each connection.
// Requests are parsed by http-parser, capped at 8 KiB and 5 s, so a client
// cannot hold the loop; it binds 127.0.0.1 unless told otherwise.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "baton/listener_socket.h"
#include "stream_server.h"

namespace baton {

class MetricsServer final : private StreamConnection::Events {
 public:
  // What to answer GET /metrics with.
  using Scrape = std::function<std::string()>;

  // Binds `spec` (TCP) now, so that a taken port stops baton before any worker starts.
  static Result<std::unique_ptr<MetricsServer>> open(uv_loop_t* loop, const ListenerSpec& spec);
  ~MetricsServer();

  Status serve(Scrape scrape);
  // "tcp://127.0.0.1:9100" with the port the kernel chose for port 0.
  std::string url() const { return server_.spec().url(); }

 private:
  MetricsServer(uv_loop_t* loop, BoundListener socket);
  void on_request_bytes(StreamConnection& c, std::string_view request) override;
  void on_bad_request(StreamConnection& c, const std::string& why) override;
  void on_closed(StreamConnection& c) override;

  StreamServer server_;
  Scrape scrape_;
};

}  // namespace baton
