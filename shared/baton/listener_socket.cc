#include "baton/listener_socket.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace baton {
namespace {

std::string hint_for_bind(int err, const ListenerSpec& spec) {
  switch (err) {
    case EADDRINUSE:
      return "another process is listening there; stop it or choose another port";
    case EACCES:
      return spec.kind != ListenerKind::kUnix && spec.port < 1024
                 ? "run as root (or with CAP_NET_BIND_SERVICE) or use a port above 1024"
                 : "check the permissions of the directory";
    case EADDRNOTAVAIL:
      return "no local interface has that address; use 127.0.0.1, 0.0.0.0 or [::]";
    case EMFILE:
    case ENFILE:
      return "the open-files limit is reached; raise it with ulimit -n";
    case ENOENT:
      if (spec.kind == ListenerKind::kUnix) {
        const auto slash = spec.path.rfind('/');
        const std::string dir = slash == std::string::npos || slash == 0 ? "/" : spec.path.substr(0, slash);
        return "the directory " + dir + " does not exist; create it (mkdir -p " + dir + ")";
      }
      return "check the address";
    default:
      return "check the address";
  }
}

Result<BoundListener> bind_inet(const ListenerSpec& spec, int backlog) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = spec.kind == ListenerKind::kTcp ? SOCK_STREAM : SOCK_DGRAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string port = std::to_string(spec.port);
  int rc = ::getaddrinfo(spec.host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0)
    return Status::error("resolve host \"" + spec.host + "\": " + ::gai_strerror(rc))
        .with_hint("use a numeric address such as 127.0.0.1 or [::1]");
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, ::freeaddrinfo);
  const addrinfo* ai = list.get();

  UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0));
  if (!fd) return Status::from_errno(errno, "socket for " + spec.url());
  int one = 1;
  if (spec.kind == ListenerKind::kTcp &&
      ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
    return Status::from_errno(errno, "SO_REUSEADDR on " + spec.url());
  if (ai->ai_family == AF_INET6 &&
      ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)
    return Status::from_errno(errno, "IPV6_V6ONLY on " + spec.url());
  if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
    int err = errno;
    return Status::from_errno(err, "bind " + spec.url()).with_hint(hint_for_bind(err, spec));
  }
  if (spec.kind == ListenerKind::kTcp && ::listen(fd.get(), backlog) != 0)
    return Status::from_errno(errno, "listen " + spec.url());

  ListenerSpec bound = spec;
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return Status::from_errno(errno, "getsockname " + spec.url());
  bound.port = ntohs(addr.ss_family == AF_INET6
                         ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                         : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  return BoundListener(std::move(bound), std::move(fd));
}

}  // namespace

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return Status::error("unix socket path " + path + " is " + std::to_string(path.size()) +
                         " bytes long; the limit is " + std::to_string(sizeof addr.sun_path - 1))
        .with_hint("choose a shorter path");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

UnixProbe probe_unix_socket(const sockaddr_un& addr) {
  // Non-blocking: a live process whose accept queue is full answers EAGAIN
  // at once, where a blocking connect() would wait for it for ever.
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!probe) return UnixProbe::kNobody;
  if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return UnixProbe::kAccepts;
  return errno == EAGAIN ? UnixProbe::kQueueFull : UnixProbe::kNobody;
}

namespace {

// A socket file exists at the path: remove it if nobody answers there.
Status clear_stale_unix_path(const ListenerSpec& spec, const sockaddr_un& addr) {
  struct stat st {};
  if (::lstat(spec.path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::ok();
    return Status::from_errno(errno, "stat " + spec.path);
  }
  if (!S_ISSOCK(st.st_mode))
    return Status::error(spec.path + " exists and is not a socket")
        .with_hint("remove it or choose another path");
  if (const UnixProbe p = probe_unix_socket(addr); p != UnixProbe::kNobody)
    return Status::error(spec.path + " is in use by a running process" +
                         (p == UnixProbe::kQueueFull ? " (its accept queue is full)" : ""))
        .with_hint("stop that process or choose another path");
  if (errno != ECONNREFUSED && errno != ENOENT && errno != EPROTOTYPE)
    return Status::from_errno(errno, "probe " + spec.path);
  // Nobody listens: a leftover from a process that died. Safe to replace.
  if (::unlink(spec.path.c_str()) != 0 && errno != ENOENT)
    return Status::from_errno(errno, "remove stale socket " + spec.path);
  return Status::ok();
}

Result<BoundListener> bind_unix(const ListenerSpec& spec, int backlog) {
  auto address = unix_address(spec.path);
  if (!address) return address.status().with_context("bind " + spec.url());
  const sockaddr_un& addr = *address;
  if (Status st = clear_stale_unix_path(spec, addr); !st)
    return st.with_context("bind " + spec.url());

  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Status::from_errno(errno, "socket for " + spec.url());
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    return Status::from_errno(err, "bind " + spec.url()).with_hint(hint_for_bind(err, spec));
  }
  // From here the path is ours: BoundListener removes it again on failure too.
  BoundListener bound(spec, std::move(fd));
  if (spec.mode && ::chmod(spec.path.c_str(), *spec.mode) != 0)
    return Status::from_errno(errno, "chmod " + spec.path);
  if (::listen(bound.fd(), backlog) != 0)
    return Status::from_errno(errno, "listen " + spec.url());
  return bound;
}

}  // namespace

BoundListener::BoundListener(ListenerSpec spec, UniqueFd fd, bool owns_path)
    : spec_(std::move(spec)), fd_(std::move(fd)) {
  struct stat st {};
  if (owns_path && spec_.kind == ListenerKind::kUnix && ::stat(spec_.path.c_str(), &st) == 0) {
    owns_path_ = true;
    dev_ = st.st_dev;
    ino_ = st.st_ino;
  }
}

BoundListener::BoundListener(BoundListener&& other) noexcept
    : spec_(std::move(other.spec_)),
      fd_(std::move(other.fd_)),
      owns_path_(std::exchange(other.owns_path_, false)),
      dev_(other.dev_),
      ino_(other.ino_) {}

BoundListener::~BoundListener() {
  if (!owns_path_) return;
  struct stat st {};
  if (::stat(spec_.path.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_)
    ::unlink(spec_.path.c_str());
}

Result<BoundListener> adopt_listener(UniqueFd fd, const std::string& name, int backlog) {
  int type = 0, accepting = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_TYPE, &type, &len) != 0)
    return Status::from_errno(errno, "inherited fd " + std::to_string(fd.get()) + " (" + name + ") is not a socket");
  sockaddr_storage addr{};
  socklen_t alen = sizeof addr;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &alen) != 0)
    return Status::from_errno(errno, "getsockname of inherited " + name);
  ListenerSpec spec;
  spec.name = name;
  char host[INET6_ADDRSTRLEN] = {};
  switch (addr.ss_family) {
    case AF_INET: {
      auto* in = reinterpret_cast<sockaddr_in*>(&addr);
      ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
      spec.port = ntohs(in->sin_port);
      break;
    }
    case AF_INET6: {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
      ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
      spec.port = ntohs(in6->sin6_port);
      break;
    }
    case AF_UNIX:
      spec.kind = ListenerKind::kUnix;
      spec.path = reinterpret_cast<sockaddr_un*>(&addr)->sun_path;
      if (spec.path.empty() || spec.path.front() != '/')
        return Status::error("inherited " + name + " is an unnamed or abstract unix socket; baton takes path sockets");
      break;
    default:
      return Status::error("inherited " + name + " has address family " + std::to_string(addr.ss_family) +
                           "; baton takes tcp, udp and unix sockets");
  }
  if (spec.kind != ListenerKind::kUnix) {
    spec.host = host;
    spec.kind = type == SOCK_DGRAM ? ListenerKind::kUdp : ListenerKind::kTcp;
  } else if (type != SOCK_STREAM) {
    return Status::error("inherited " + name + " is a unix datagram socket; baton takes unix stream sockets");
  }
  len = sizeof accepting;
  if (type == SOCK_STREAM && ::getsockopt(fd.get(), SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) == 0 && !accepting &&
      ::listen(fd.get(), backlog) != 0)
    return Status::from_errno(errno, "listen on inherited " + spec.to_string());
  return BoundListener(std::move(spec), std::move(fd), /*owns_path=*/false);
}

Result<BoundListener> bind_listener(const ListenerSpec& spec, int backlog) {
  return spec.kind == ListenerKind::kUnix ? bind_unix(spec, backlog) : bind_inet(spec, backlog);
}

}  // namespace baton
