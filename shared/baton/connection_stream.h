// The connections' half of the handoff stream (PROTOCOL.md, "The handoff
// stream" and "Connections lent ahead"):
//
//   CONNECTIONS_AHEAD (fds, by id)*           pre-copy only, while the old worker serves
//   ...the state...
//   CONNECTIONS_BY_ID* CONNECTIONS* (fds) with their CONNECTION_DATA   in the pause
//   HANDOFF_END(connections)
//
// Lending ahead moves the fds, and the new worker's work of preparing a
// handle for each, out of the pause: in it, a lent connection costs only its
// id and whatever bytes it has pending.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "baton/channel.h"
#include "baton/connection.h"
#include "baton/status.h"

namespace baton {

using Deadline = Channel::Clock::time_point;

// More than any one process serves: a bound a receiver can hold.
inline constexpr std::uint32_t kMaxHandedConnections = 1'000'000;

// The next message on a handoff link; a link closed or silent past the
// deadline is an error naming what was awaited.
Result<Envelope> next_on_link(Channel& link, Deadline deadline, const char* waiting_for);

// The old worker's record of what it lent ahead in this handoff.
class ConnectionLender {
 public:
  // Sends CONNECTIONS_AHEAD batches of the connections in `open` not lent
  // yet, as far as the link takes them without waiting and at most
  // `at_most` of them. True once every one of them is lent; false when the
  // link is full or `at_most` were sent (call again when writable).
  Result<bool> lend(Channel& link, std::span<const OpenConnection> open,
                    std::size_t at_most = std::numeric_limits<std::size_t>::max());
  bool lent(std::uint64_t id) const { return lent_.count(id) != 0; }
  std::size_t count() const { return lent_.size(); }

 private:
  std::unordered_set<std::uint64_t> lent_;
};

// Sends every connection and HANDOFF_END: those `lender` lent ahead by id
// (CONNECTIONS_BY_ID), the others with their fds (CONNECTIONS; the kernel
// copies the fds to the peer). `lender` may be null: nothing went ahead.
Status send_connections(Channel& link, std::span<const ExportedConnection> connections,
                        const ConnectionLender* lender, Deadline deadline);

// The new worker's connections lent ahead, until the pause names them.
class AheadConnections {
 public:
  // `prepare` gets each batch as it arrives and owns those fds from then on;
  // without it, the fds wait here and travel in HandedConnection::fd.
  explicit AheadConnections(std::function<void(std::vector<AheadConnection>)> prepare = nullptr)
      : prepare_(std::move(prepare)) {}
  // One CONNECTIONS_AHEAD; refused past `max_connections` in all.
  Status take(Envelope& message, std::uint32_t max_connections);
  // A connection the pause names: its fd if it waited here (empty if the
  // application prepared it). Refused if it never came ahead, or twice.
  Result<UniqueFd> claim(std::uint64_t id);
  std::size_t count() const { return fds_.size(); }

 private:
  std::function<void(std::vector<AheadConnection>)> prepare_;
  std::unordered_map<std::uint64_t, UniqueFd> fds_;  // every id lent; the fd unless prepared
  std::unordered_set<std::uint64_t> claimed_;
};

// Receives CONNECTIONS_BY_ID and CONNECTIONS batches until HANDOFF_END; at
// most `max_connections`. `ahead` may be null: nothing was lent ahead.
Result<std::vector<HandedConnection>> receive_connections(Channel& link, std::uint32_t max_connections,
                                                          AheadConnections* ahead, Deadline deadline);

}  // namespace baton
