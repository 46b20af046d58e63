// The handoff stream: what an old worker sends its successor over the link
// the supervisor created for them (PROTOCOL.md, "The handoff stream"):
//
//   STATE_BEGIN(version)  STATE_CHUNK*  STATE_END(total_length, xxh3-64)
//   CONNECTIONS* (fds attached)  HANDOFF_END(connections)
//
// The state is streamed: the sender serializes straight into chunks and the
// receiver deserializes from them as they arrive, so neither side (and never
// the supervisor) holds a second copy of it. Both ends block with a deadline;
// a worker runs this while it is paused anyway.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <istream>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "baton/channel.h"
#include "baton/connection.h"
#include "baton/status.h"
#include "baton/unique_fd.h"

namespace baton {

using Deadline = Channel::Clock::time_point;

struct HandoffTotals {
  std::uint64_t state_bytes = 0;
  std::uint32_t connections = 0;
};

// Sender. `write_state` serializes into the stream it is given (a cereal
// archive, say); throwing from it aborts the handoff.
Result<std::uint64_t> send_state(Channel& link, std::uint32_t version,
                                 const std::function<void(std::ostream&)>& write_state, Deadline deadline);
// Sends every connection (the kernel copies the fds to the peer) and HANDOFF_END.
Status send_connections(Channel& link, std::span<const ExportedConnection> connections, Deadline deadline);

// Receiver. Fails unless the state's version is in `accepted`, every byte
// arrived, `read_state` consumed exactly the stream, the length and checksum
// match, and the stream stays under `max_bytes`.
struct StateReceiveOptions {
  std::vector<std::uint32_t> accepted;
  std::uint64_t max_bytes = std::uint64_t{64} << 30;
};
Result<std::uint64_t> receive_state(Channel& link, const StateReceiveOptions& options,
                                    const std::function<void(std::istream&, std::uint32_t version)>& read_state,
                                    Deadline deadline);
// Receives CONNECTIONS batches until HANDOFF_END; at most `max_connections`.
Result<std::vector<HandedConnection>> receive_connections(Channel& link, std::uint32_t max_connections,
                                                          Deadline deadline);

}  // namespace baton
