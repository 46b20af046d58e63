// kvstore's HTTP routes: a pure function from a parsed request to a response,
// so it is tested without sockets.
//
//   GET /            200, a short greeting naming pid and generation
//   GET /healthz     200 "ok", 503 "draining" once the worker drains, 500 with --unhealthy
//   GET /stats       200, JSON: pid, generation, worker_index, requests, keys, writes,
//                    state_version, connections, draining
//   PUT /kv/KEY      200 "stored" (body = value, at most 1 MiB)
//   GET /kv/KEY      200 value, or 404
//   DELETE /kv/KEY   200 "deleted", or 404
#pragma once

#include <cstdint>
#include <string>
#include <functional>
#include <map>
#include <string_view>

namespace kvstore {

struct Request {
  std::string method;  // "GET", "PUT", ...
  std::string path;    // without the query string
  std::string body;
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
  std::string allow;  // for 405
};

// What /stats reports besides the store itself.
struct ServerFacts {
  long pid = 0;
  std::uint64_t generation = 0;
  std::uint32_t worker_index = 0;
  std::uint64_t requests = 0;  // served by this process, this one included
  std::uint64_t connections = 0;
  std::uint64_t writes = 0;  // PUT/DELETE since the store began (survives handoffs)
  std::uint32_t state_version = 0;
  bool draining = false;
  bool unhealthy = false;  // --unhealthy: /healthz answers 500 (to try baton --probation-check)
  bool debug_leak = false;  // --debug-leak: PUT /debug/leak grows this process (to try baton --recycle-memory)
};

// Ordered, so a pre-copy's snapshot can go on from the last key it wrote
// however the store changed meanwhile (kv_snapshot.h).
using Store = std::map<std::string, std::string, std::less<>>;

inline constexpr std::size_t kMaxBodyBytes = 1 << 20;

Response route(const Request& request, Store& store, const ServerFacts& facts);
// The KEY of /kv/KEY ("" for any other path).
std::string_view kv_key(std::string_view path);
const char* reason_phrase(int status);

}  // namespace kvstore
