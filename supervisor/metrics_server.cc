#include "metrics_server.h"

#include <http_parser.h>
#include <spdlog/spdlog.h>

namespace baton {
namespace {

constexpr std::size_t kMaxRequest = 8 * 1024;
constexpr std::chrono::milliseconds kRequestDeadline{5'000};
constexpr int kBacklog = 64;

struct Request {
  bool complete = false;
  bool malformed = false;
  unsigned method = 0;
  std::string path;
};

// Parses everything received so far; incomplete until the headers' end.
Request parse_request(std::string_view bytes) {
  Request out;
  http_parser parser;
  http_parser_init(&parser, HTTP_REQUEST);
  parser.data = &out;
  http_parser_settings settings{};
  settings.on_url = [](http_parser* p, const char* at, std::size_t n) {
    static_cast<Request*>(p->data)->path.append(at, n);
    return 0;
  };
  settings.on_message_complete = [](http_parser* p) {
    static_cast<Request*>(p->data)->complete = true;
    return 1;  // one request is all we read
  };
  http_parser_execute(&parser, &settings, bytes.data(), bytes.size());
  out.method = parser.method;
  out.malformed = !out.complete && HTTP_PARSER_ERRNO(&parser) != HPE_OK;
  if (const auto q = out.path.find('?'); q != std::string::npos) out.path.resize(q);
  return out;
}

std::string response(const char* status, const char* type, const std::string& body) {
  return std::string("HTTP/1.1 ") + status + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

constexpr const char* kText = "text/plain; charset=utf-8";
constexpr const char* kExposition = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace

Result<std::unique_ptr<MetricsServer>> MetricsServer::open(uv_loop_t* loop, const ListenerSpec& spec) {
  auto bound = bind_listener(spec, kBacklog);
  if (!bound) return bound.status().with_context("--metrics");
  return std::unique_ptr<MetricsServer>(new MetricsServer(loop, std::move(bound.value())));
}

MetricsServer::MetricsServer(uv_loop_t* loop, BoundListener socket)
    : server_(loop, std::move(socket), {.max_request = kMaxRequest, .deadline = kRequestDeadline}, "metrics") {}

MetricsServer::~MetricsServer() = default;

Status MetricsServer::serve(Routes routes) {
  routes_ = std::move(routes);
  Status st = server_.listen(*this, [](StreamConnection&) {});
  if (st)
    spdlog::info("metrics at http://{}:{}/metrics (and /healthz, /readyz)", server_.spec().host, server_.spec().port);
  return st;
}

void MetricsServer::on_request_bytes(StreamConnection& c, std::string_view bytes) {
  const Request r = parse_request(bytes);
  if (!r.complete && !r.malformed) return;
  c.request_complete();
  if (r.malformed) return c.write(response("400 Bad Request", kText, "not an HTTP request\n"), true);
  if (r.method != HTTP_GET) return c.write(response("405 Method Not Allowed", kText, "GET /metrics\n"), true);
  if (r.path == "/metrics") return c.write(response("200 OK", kExposition, routes_.metrics()), true);
  if (r.path == "/healthz") return c.write(response("200 OK", kText, "ok\n"), true);
  if (r.path == "/readyz") {
    const std::string why = routes_.not_ready();
    if (why.empty()) return c.write(response("200 OK", kText, "ready\n"), true);
    return c.write(response("503 Service Unavailable", kText, "not ready: " + why + "\n"), true);
  }
  c.write(response("404 Not Found", kText, "baton serves /metrics, /healthz and /readyz\n"), true);
}

void MetricsServer::on_bad_request(StreamConnection& c, const std::string& why) {
  c.write(response("400 Bad Request", kText, why + "\n"), true);
}

void MetricsServer::on_closed(StreamConnection& c) { server_.forget(c); }

}  // namespace baton
