// The client connections a worker holds, as the kernel sees them: how many,
// for `baton status`, so that an operator can see why an old generation is
// still draining (HAProxy #228/#1792: "hundreds of old processes, why?"); and
// its sockets' fds, so that a hung worker's clients can be taken (client_takeover.h).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace baton {

// The established TCP connections among `pid`'s open fds whose local port is
// one of `ports` (baton's TCP listeners): its socket inodes from
// /proc/PID/fd, matched against /proc/PID/net/tcp and tcp6 (the worker's own
// network namespace). Connections a worker made itself to other services
// have another local port and are not counted; unix and UDP listeners are not
// counted. None when /proc will not say (a worker run as another user by a
// baton without CAP_SYS_PTRACE, or one that has exited).
std::optional<std::size_t> count_client_connections(pid_t pid, const std::vector<std::uint16_t>& ports);
// The fd numbers of `pid`'s sockets, one per socket (for pidfd_getfd); none
// when /proc will not say.
std::optional<std::vector<int>> socket_fds(pid_t pid);

}  // namespace baton
