#include "client_takeover.h"

#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "client_connections.h"

#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438  // Linux 5.6; older libc headers lack the number
#endif

namespace baton {
namespace {

// The worker read bytes since its last answer that it never answered. A
// request the client sent after the hang is still queued whole (unread
// bytes): the replacement reads it from its start.
bool mid_request(int fd) {
  int unread = 0;
  if (::ioctl(fd, SIOCINQ, &unread) == 0 && unread > 0) return false;
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return true;  // cannot tell: the safe side
  // Both are "milliseconds ago"; a connection never written to counts from its start.
  return info.tcpi_last_data_recv < info.tcpi_last_data_sent;
}

// An established TCP connection whose local port is one of `ports`: a client
// of baton's listeners, not a connection the worker made to a database.
bool is_client(int fd, const std::vector<std::uint16_t>& ports) {
  int type = 0, listening = 1;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) return false;
  len = sizeof listening;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || listening) return false;
  sockaddr_storage local{};
  len = sizeof local;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return false;
  std::uint16_t port = 0;
  if (local.ss_family == AF_INET) port = ntohs(reinterpret_cast<const sockaddr_in&>(local).sin_port);
  else if (local.ss_family == AF_INET6) port = ntohs(reinterpret_cast<const sockaddr_in6&>(local).sin6_port);
  else return false;
  tcp_info info{};
  len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 || info.tcpi_state != TCP_ESTABLISHED) return false;
  return std::find(ports.begin(), ports.end(), port) != ports.end();
}

}  // namespace

Result<KeptConnections> take_client_connections(int pidfd, pid_t pid, const std::vector<std::uint16_t>& ports) {
  auto fds = socket_fds(pid);
  if (!fds) return Status::error("cannot read /proc/" + std::to_string(pid) + "/fd (not ours to look at)");
  KeptConnections kept;
  for (int fd : *fds) {
    const long copy = ::syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    if (copy < 0) {
      const int e = errno;
      // Not one taken means none will be: say why once; a connection closed meanwhile (EBADF) is just gone.
      if (e == EBADF) continue;
      if (kept.empty())
        return Status::error(std::string("pidfd_getfd: ") + std::strerror(e) +
                             (e == EPERM ? " (baton needs the worker's user or CAP_SYS_PTRACE)"
                              : e == ENOSYS ? " (Linux 5.6 or later is needed)"
                                            : ""));
      continue;
    }
    UniqueFd taken(static_cast<int>(copy));  // pidfd_getfd sets O_CLOEXEC
    if (!is_client(taken.get(), ports)) continue;
    const bool partial = mid_request(taken.get());
    kept.push_back({std::move(taken), partial});
  }
  return kept;
}

}  // namespace baton
