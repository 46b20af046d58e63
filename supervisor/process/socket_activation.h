// systemd socket activation (see sd_listen_fds(3)): systemd binds the
// listening sockets and passes them as fds 3, 4, ... with LISTEN_PID,
// LISTEN_FDS and LISTEN_FDNAMES. Because systemd keeps its copies, a baton
// that is restarted (even after SIGKILL) gets the very same sockets back and
// no connection is refused in between.
#pragma once

#include <string>
#include <vector>

#include "baton/status.h"
#include "baton/unique_fd.h"

namespace baton {

struct ActivatedSocket {
  std::string name;  // from LISTEN_FDNAMES, else "listen<N>"
  UniqueFd fd;
};

// The sockets passed to this process, if any (LISTEN_PID must be ours).
// Unsets the LISTEN_* variables so workers do not see them. Malformed
// variables are an error that names the variable.
Result<std::vector<ActivatedSocket>> take_activated_sockets();

}  // namespace baton
