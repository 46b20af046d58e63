// Taking a hung worker's client connections before it is ended, so that its
// replacement serves them and their clients never see a reset (issue 23):
// pidfd_getfd(2) copies each connection's fd from the worker into baton.
// Once the worker dies, baton's copy keeps the connection open; the kernel
// keeps queueing what the client sends until the replacement reads it.
//
// pidfd_getfd needs Linux 5.6+ and ptrace rights over the worker: the same
// user (baton's usual case: it started the worker) or CAP_SYS_PTRACE. A
// baton that runs workers as another user (--user) without that capability,
// or a kernel that refuses (Yama ptrace_scope 2 without the capability, or
// 3), gets an error naming why;
// the worker's connections are then reset when it ends, as before.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "baton/status.h"
#include "worker_handle.h"

namespace baton {

// Copies the established TCP connections on `ports` (baton's listeners) that
// `pid` (with `pidfd`) holds, each marked mid_request when the worker read
// bytes it never answered: nothing is waiting unread, and data arrived after
// its last write (TCP_INFO's last_data_recv against last_data_sent).
Result<KeptConnections> take_client_connections(int pidfd, pid_t pid, const std::vector<std::uint16_t>& ports);

}  // namespace baton
