#include "routes.h"

#include <string_view>

namespace kvstore {
namespace {

Response text(int status, std::string body) { return {status, "text/plain", std::move(body), {}}; }
Response not_allowed(const char* allow) { return {405, "text/plain", "method not allowed\n", allow}; }

Response stats(const Store& store, const ServerFacts& f) {
  std::string json = "{\"pid\":" + std::to_string(f.pid) + ",\"generation\":" + std::to_string(f.generation) +
                     ",\"worker_index\":" + std::to_string(f.worker_index) + ",\"requests\":" +
                     std::to_string(f.requests) + ",\"keys\":" + std::to_string(store.size()) +
                     ",\"writes\":" + std::to_string(f.writes) + ",\"state_version\":" + std::to_string(f.state_version) +
                     ",\"connections\":" + std::to_string(f.connections) +
                     ",\"draining\":" + (f.draining ? "true" : "false") +
                     // With baton run -w N, each worker keeps a store of its own.
                     ",\"store\":\"this worker's own\"}\n";
  return {200, "application/json", std::move(json), {}};
}

}  // namespace

Response route(const Request& r, Store& store, const ServerFacts& facts) {
  std::string_view path = r.path;
  if (path == "/") {
    if (r.method != "GET" && r.method != "HEAD") return not_allowed("GET, HEAD");
    return text(200, "baton kvstore: pid " + std::to_string(facts.pid) + ", generation " +
                         std::to_string(facts.generation) + "\n");
  }
  if (path == "/healthz") {
    if (r.method != "GET") return not_allowed("GET");
    // A load balancer that still reaches a draining worker takes it out of rotation.
    if (facts.unhealthy) return text(500, "unhealthy (--unhealthy)\n");
    return facts.draining ? text(503, "draining\n") : text(200, "ok\n");
  }
  if (path == "/stats") return r.method == "GET" ? stats(store, facts) : not_allowed("GET");
  if (path.substr(0, 4) == "/kv/") {
    std::string key(kv_key(path));
    if (key.empty()) return text(400, "missing key: use /kv/KEY\n");
    if (r.method == "PUT") {
      store[key] = r.body;
      return text(200, "stored\n");
    }
    if (r.method == "GET") {
      auto it = store.find(key);
      return it == store.end() ? text(404, "not found\n") : text(200, it->second);
    }
    if (r.method == "DELETE") return store.erase(key) ? text(200, "deleted\n") : text(404, "not found\n");
    return not_allowed("GET, PUT, DELETE");
  }
  return text(404, "not found\n");
}

std::string_view kv_key(std::string_view path) { return path.substr(0, 4) == "/kv/" ? path.substr(4) : ""; }

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

}  // namespace kvstore
