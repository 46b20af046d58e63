#include "metrics_server.h"

#include <http_parser.h>
#include <spdlog/spdlog.h>

namespace baton {
namespace {

constexpr std::size_t kMaxRequest = 8 * 1024;
// A probe's request is one small packet sent with its connect: a client
// that has not sent it whole by then is slow or hostile, and holds a slot.
constexpr std::chrono::milliseconds kRequestDeadline{500};
// Room enough that a flood must turn over this many idle connections
// between a probe's connect and its request to push the probe out.
constexpr std::size_t kMaxClients = 256;

struct Request {
  bool complete = false;
  bool malformed = false;
  unsigned method = 0;
  std::string path;
};

// Whether the headers' blank line is in the last `fresh` bytes of `bytes`
// (or straddles them): the work per byte received is constant.
bool headers_end_in(std::string_view bytes, std::size_t fresh) {
  const std::size_t from = bytes.size() - std::min(bytes.size(), fresh + 3);
  const std::string_view tail = bytes.substr(from);
  return tail.find("\r\n\r\n") != std::string_view::npos || tail.find("\n\n") != std::string_view::npos;
}

// Parses a request whose headers are whole.
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
  // Whole at the headers' end: baton serves GETs, and a body is not read.
  settings.on_headers_complete = [](http_parser* p) {
    static_cast<Request*>(p->data)->complete = true;
    return 0;
  };
  settings.on_message_complete = [](http_parser*) {
    return 1;  // one request is all we read
  };
  http_parser_execute(&parser, &settings, bytes.data(), bytes.size());
  out.method = parser.method;
  // Headers whole, yet no request (garbage, a blank line first): not HTTP.
  out.malformed = !out.complete;
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
  auto bound = bind_listener(spec, kListenBacklog);
  if (!bound) return bound.status().with_context("--metrics");
  return std::unique_ptr<MetricsServer>(new MetricsServer(loop, std::move(bound.value())));
}

MetricsServer::MetricsServer(uv_loop_t* loop, BoundListener socket)
    : server_(loop, std::move(socket),
              {.max_request = kMaxRequest, .deadline = kRequestDeadline, .max_clients = kMaxClients}, "metrics") {}

MetricsServer::~MetricsServer() = default;

Status MetricsServer::serve(Routes routes) {
  routes_ = std::move(routes);
  Status st = server_.listen(*this, [](StreamConnection&) {});
  if (st)
    spdlog::info("metrics at http://{}:{}/metrics (and /healthz, /readyz)", server_.spec().host, server_.spec().port);
  return st;
}

void MetricsServer::on_request_bytes(StreamConnection& c, std::string_view bytes, std::size_t fresh) {
  if (!headers_end_in(bytes, fresh)) return;
  const Request r = parse_request(bytes);
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

void MetricsServer::on_bad_request(StreamConnection& c, Bad, const std::string& why) {
  c.write(response("400 Bad Request", kText, why + "\n"), true);
}

void MetricsServer::on_closed(StreamConnection& c) { server_.forget(c); }

}  // namespace baton
