// The --metrics listener: a small HTTP/1.1 server on baton's loop for
// Prometheus, load balancers and orchestrators. One request per connection:
//
//   GET /metrics   the text exposition (Metrics::scrape())
//   GET /healthz   200 "ok": baton is alive (its loop answers)
//   GET /readyz    200 while a generation serves and baton is not stopping;
//                  503 from the moment a stop begins, so that a load
//                  balancer takes this instance out before its workers drain
//
// Requests are parsed by http-parser once their headers are whole, capped at
// 8 KiB and 500 ms; idle clients are closed oldest first when 256 are
// connected (stream_server.h), so that no client can hold the loop or keep a
// probe from being answered.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "baton/listener_socket.h"
#include "handover_table.h"
#include "stream_server.h"

namespace baton {

class MetricsServer final : private StreamConnection::Events {
 public:
  struct Routes {
    std::function<std::string()> metrics;    // the exposition
    std::function<std::string()> not_ready;  // why baton is not ready; empty when it is
  };

  // Binds `spec` (TCP) now, so that a taken port stops baton before any worker starts.
  static Result<std::unique_ptr<MetricsServer>> open(uv_loop_t* loop, const ListenerSpec& spec);
  // On a socket bound already (baton upgrade --self).
  static std::unique_ptr<MetricsServer> adopt(uv_loop_t* loop, BoundListener socket) {
    return std::unique_ptr<MetricsServer>(new MetricsServer(loop, std::move(socket)));
  }
  // For the handover table: the listening socket.
  HandoverSocket handover_socket() const { return {server_.spec().to_string(), server_.fd(), false}; }
  ~MetricsServer();

  Status serve(Routes routes);
  // "tcp://127.0.0.1:9100" with the port the kernel chose for port 0.
  std::string url() const { return server_.spec().url(); }

 private:
  MetricsServer(uv_loop_t* loop, BoundListener socket);
  void on_request_bytes(StreamConnection& c, std::string_view request, std::size_t fresh) override;
  void on_bad_request(StreamConnection& c, Bad kind, const std::string& why) override;
  void on_closed(StreamConnection& c) override;

  StreamServer server_;
  Routes routes_;
};

}  // namespace baton
