// A client connection on its way from an old worker to its successor in a
// handoff: plain values, shared by libbaton's API and the handoff stream.
#pragma once

#include <cstdint>
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
  // The id it was listed with by HandoffSource::open_connections (0: none).
  // A connection lent ahead goes by this id in the pause, without its fd.
  std::uint64_t id = 0;
};

// One client connection as the new worker receives it: it owns the fd.
struct HandedConnection {
  UniqueFd fd;  // empty when it was lent ahead and the application prepared it (AheadConnection)
  std::string pending;
  std::string app;
  std::string unsent;
  std::uint64_t id = 0;  // the id it was lent ahead with; 0 when it came with its fd in the pause
};

// An open connection the old worker may lend ahead (pre-copy): its id
// (nonzero, unique among its connections) and its fd, borrowed.
struct OpenConnection {
  std::uint64_t id = 0;
  int fd = -1;
};

// A connection lent ahead, as the new worker receives it before the pause.
// It is the old worker's to serve until the handoff's end: prepare it (a
// handle, options) but read and write nothing.
struct AheadConnection {
  std::uint64_t id = 0;
  UniqueFd fd;
};

// A client connection baton took from a hung worker before ending it
// (pidfd_getfd), for its replacement to serve: the client never saw a reset.
// What the hung worker had read of it, and its state, died with it.
struct InheritedConnection {
  UniqueFd fd;
  // The hung worker read bytes on it that it never answered (a request,
  // perhaps half of one): they are lost, and the rest of that request may
  // follow. Close it rather than parse from the middle; the client sees the
  // close (a FIN, not a reset) and may retry. False: nothing read since its
  // last answer, so the next bytes start a request.
  bool mid_request = false;
};

}  // namespace baton
