// A small blocking HTTP/1.1 client over real sockets on 127.0.0.1, used by the
// integration tests and the load client. Every call has a socket timeout, so
// a test never hangs on a server that stopped answering.
#pragma once

#include <cstdint>
#include <string>

#include "baton/status.h"
#include "baton/unique_fd.h"

namespace testing_support {

struct HttpResponse {
  int status = 0;
  std::string body;
  bool connection_close = false;  // the server said "Connection: close"
};

// Connects to 127.0.0.1:port with send/receive timeouts.
baton::Result<baton::UniqueFd> connect_local(std::uint16_t port, int timeout_ms = 10'000);
// Reads one response from `fd`. `buffer` holds bytes read but not yet used
// (pipelined responses); pass the same buffer to read the next one.
baton::Result<HttpResponse> read_response(int fd, std::string& buffer);
// Sends raw bytes.
baton::Status send_all(int fd, const std::string& data);
// Sends one request on an open connection and reads its response.
baton::Result<HttpResponse> exchange(int fd, const std::string& method, const std::string& path,
                                     const std::string& body = {}, bool close = false);
// One request on a fresh connection ("Connection: close").
baton::Result<HttpResponse> http_request(std::uint16_t port, const std::string& method, const std::string& path,
                                         const std::string& body = {});

// Extracts an integer field from kvstore's flat /stats JSON ("pid", "generation", ...); -1 if absent.
long json_field(const std::string& json, const std::string& key);

}  // namespace testing_support
