#include "control_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "baton/listener_socket.h"

namespace baton {
namespace {

constexpr std::size_t kMaxReply = 1 << 20;  // a status of 256 workers is ~40 KiB
constexpr const char* kPointElsewhere = "point to it with --control PATH or --name NAME";

Status connect_error(int err, const std::string& path) {
  switch (err) {
    case ENOENT:
      return Status::error("no baton control socket at " + path + " (is baton running, under this name?)")
          .with_hint(kPointElsewhere);
    case ECONNREFUSED:
      return Status::error("nothing answers on " + path + " (baton exited and left the socket?)")
          .with_hint(kPointElsewhere);
    case EACCES:
    case EPERM:
      return Status::error("permission denied on " + path)
          .with_hint("run as root or as the user baton runs as");
    default: return Status::from_errno(err, "connect to " + path).with_hint(kPointElsewhere);
  }
}

}  // namespace

Result<ControlClient> ControlClient::connect(const std::string& path) {
  auto addr = unix_address(path);
  if (!addr) return addr.status().with_hint(kPointElsewhere);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Status::from_errno(errno, "socket");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0)
    return connect_error(errno, path);
  return ControlClient(std::move(fd), path);
}

bool ControlClient::wait_readable(std::chrono::steady_clock::time_point deadline, bool bounded) {
  for (;;) {
    int ms = -1;
    if (bounded) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      ms = static_cast<int>(std::min<long long>(left.count(), 60'000));
    }
    pollfd p{.fd = fd_.get(), .events = POLLIN};
    const int n = ::poll(&p, 1, ms);
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return true;  // let read() report it
  }
}

Result<nlohmann::json> ControlClient::ask(const std::string& request, std::chrono::milliseconds timeout) {
  const std::string line = request + "\n";
  if (::send(fd_.get(), line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    // baton may have answered and closed before reading (a refused peer):
    // its reason is still there to read.
    Status sent = Status::from_errno(errno, "send to " + path_);
    auto reply = read_reply(std::chrono::milliseconds(1000));
    return reply ? reply : Result<nlohmann::json>(sent);
  }
  return read_reply(timeout);
}

Result<nlohmann::json> ControlClient::read_reply(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string reply;
  while (reply.find('\n') == std::string::npos) {
    if (!wait_readable(deadline, timeout.count() > 0))
      return Status::from_errno(ETIMEDOUT, "no answer from baton on " + path_ + " within the timeout")
          .with_hint("see what it does with: baton status");
    char chunk[4096];
    const ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::from_errno(errno, "read from " + path_);
    if (n == 0) return Status::error("baton closed " + path_ + " without answering (did it exit?)");
    reply.append(chunk, static_cast<std::size_t>(n));
    if (reply.size() > kMaxReply) return Status::error("baton's reply is larger than 1 MiB; not a baton?");
  }
  auto j = nlohmann::json::parse(reply.substr(0, reply.find('\n')), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ok"))
    return Status::error("the reply on " + path_ + " is not baton's JSON; is that a baton control socket?");
  return j;
}

bool ControlClient::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (!wait_readable(deadline, timeout.count() > 0)) return false;
    char chunk[256];
    const ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (n == 0 || (n < 0 && errno != EINTR)) return true;
  }
}

}  // namespace baton
