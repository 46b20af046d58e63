#include "support/http_client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <strings.h>

namespace testing_support {

baton::Status send_all(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return baton::Status::from_errno(errno, "send");
    sent += static_cast<std::size_t>(n);
  }
  return baton::Status::ok();
}

namespace {

// Reads until `buf` holds `want` bytes; an early EOF is an error.
baton::Status read_at_least(int fd, std::string& buf, std::size_t want, const char* what) {
  char chunk[16 * 1024];
  while (buf.size() < want) {
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return baton::Status::from_errno(errno, std::string("recv ") + what);
    if (n == 0) return baton::Status::error(std::string("connection closed by server during ") + what);
    buf.append(chunk, static_cast<std::size_t>(n));
  }
  return baton::Status::ok();
}

}  // namespace

baton::Result<baton::UniqueFd> connect_local(std::uint16_t port, int timeout_ms) {
  baton::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return baton::Status::from_errno(errno, "socket");
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return baton::Status::from_errno(errno, "connect 127.0.0.1:" + std::to_string(port));
  return fd;
}

baton::Result<HttpResponse> exchange(int fd, const std::string& method, const std::string& path,
                                     const std::string& body, bool close) {
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!body.empty() || method == "PUT") req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  if (close) req += "Connection: close\r\n";
  req += "\r\n" + body;
  if (baton::Status st = send_all(fd, req); !st) return st;

  std::string buf;
  auto r = read_response(fd, buf);
  if (r && !buf.empty()) return baton::Status::error("unexpected bytes after the response");
  return r;
}

baton::Result<HttpResponse> read_response(int fd, std::string& buf) {
  std::size_t header_end;
  while ((header_end = buf.find("\r\n\r\n")) == std::string::npos) {
    if (baton::Status st = read_at_least(fd, buf, buf.size() + 1, "response headers"); !st) return st;
  }
  HttpResponse r;
  if (buf.compare(0, 9, "HTTP/1.1 ") != 0) return baton::Status::error("not an HTTP/1.1 response: " + buf.substr(0, 40));
  r.status = std::atoi(buf.c_str() + 9);
  std::size_t content_length = 0;
  bool have_length = false;
  std::size_t pos = buf.find("\r\n") + 2;
  while (pos < header_end) {
    std::size_t eol = buf.find("\r\n", pos);
    std::string line = buf.substr(pos, eol - pos);
    if (strncasecmp(line.c_str(), "content-length:", 15) == 0) {
      content_length = std::strtoul(line.c_str() + 15, nullptr, 10);
      have_length = true;
    } else if (strncasecmp(line.c_str(), "connection:", 11) == 0 && line.find("close") != std::string::npos) {
      r.connection_close = true;
    }
    pos = eol + 2;
  }
  if (!have_length) return baton::Status::error("response without Content-Length");
  if (baton::Status st = read_at_least(fd, buf, header_end + 4 + content_length, "response body"); !st) return st;
  r.body = buf.substr(header_end + 4, content_length);
  buf.erase(0, header_end + 4 + content_length);
  return r;
}

baton::Result<HttpResponse> http_request(std::uint16_t port, const std::string& method, const std::string& path,
                                         const std::string& body) {
  auto fd = connect_local(port);
  if (!fd) return fd.status();
  return exchange(fd->get(), method, path, body, /*close=*/true);
}

long json_field(const std::string& json, const std::string& key) {
  auto pos = json.find("\"" + key + "\":");
  if (pos == std::string::npos) return -1;
  return std::strtol(json.c_str() + pos + key.size() + 3, nullptr, 10);
}

}  // namespace testing_support
