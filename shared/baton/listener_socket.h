// Binding the sockets a ListenerSpec names. The supervisor binds each listener
// once at start and keeps it for its whole life; a standalone worker binds its
// own from its --listen flags.
#pragma once

#include <sys/types.h>
#include <sys/un.h>

#include <string>

#include "baton/listener_spec.h"
#include "baton/status.h"
#include "baton/unique_fd.h"

namespace baton {

// A bound (and, for stream sockets, listening) socket. For unix sockets it
// also owns the path: the destructor removes the file if it is still the
// socket this object created (not one that replaced it).
class BoundListener {
 public:
  // `owns_path`: a unix socket file this process created (and so removes).
  BoundListener(ListenerSpec spec, UniqueFd fd, bool owns_path = true);
  ~BoundListener();
  BoundListener(BoundListener&& other) noexcept;
  BoundListener& operator=(BoundListener&&) = delete;
  BoundListener(const BoundListener&) = delete;
  BoundListener& operator=(const BoundListener&) = delete;

  // The spec with the port the kernel chose when port 0 was asked.
  const ListenerSpec& spec() const { return spec_; }
  int fd() const { return fd_.get(); }
  bool owns_path() const { return owns_path_; }
  // Hands the socket over; the unix socket path stays owned by this object.
  UniqueFd take_fd() { return std::move(fd_); }

 private:
  ListenerSpec spec_;
  UniqueFd fd_;
  bool owns_path_ = false;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

// The address of the unix socket file at `path`; an error naming the limit
// when the path is too long for one.
Result<sockaddr_un> unix_address(const std::string& path);
// Whether a process listens on the unix socket at `addr`. Never blocks.
// kNobody leaves connect()'s errno (ECONNREFUSED, ENOENT, ...) in errno.
enum class UnixProbe { kNobody, kAccepts, kQueueFull };
UnixProbe probe_unix_socket(const sockaddr_un& addr);

// Binds `spec`: SO_REUSEADDR for TCP, IPV6_V6ONLY for IPv6 (so [::] and 0.0.0.0
// can both be listened on), listen(backlog) for stream sockets. A unix socket
// path left behind by a dead process is removed; one still answering is not.
// The fd is close-on-exec and blocking; libuv makes its own copy non-blocking.
Result<BoundListener> bind_listener(const ListenerSpec& spec, int backlog);

// Takes a socket someone else bound (systemd socket activation): works out its
// spec from the socket itself, and makes stream sockets listen if they do not.
// A unix socket's file stays its creator's.
Result<BoundListener> adopt_listener(UniqueFd fd, const std::string& name, int backlog);

}  // namespace baton
