// A client connection on its way from an old worker to its successor in a
// handoff: plain values, shared by libbaton's API and the handoff stream.
#pragma once

#include <string>

#include "baton/unique_fd.h"

namespace baton {

// One client connection as the old worker gives it away. The fd is
// borrowed: it stays the application's until COMMIT (close it) or RESUME
// (serve it again). Not dup'd, so a worker with N connections needs no
// more than N fds to hand them over.
struct ExportedConnection {
  int fd = -1;
  std::string pending;  // bytes read but not processed; the receiver processes them first
  std::string app;      // application data (parser state, session id, ...), at most 32 KiB
  // Response bytes queued but not yet taken by the client (it reads slowly,
  // or not at all): the receiver writes them before anything else. The old
  // worker must write none of them once exported.
  std::string unsent;
};

// One client connection as the new worker receives it: it owns the fd.
struct HandedConnection {
  UniqueFd fd;
  std::string pending;
  std::string app;
  std::string unsent;
};

}  // namespace baton
