// The handoff stream: what an old worker sends its successor over the link
// the supervisor created for them (PROTOCOL.md, "The handoff stream"):
//
//   STATE_BEGIN(version)  STATE_CHUNK*  STATE_END(total_length, xxh3-64)
//   CONNECTIONS* (fds attached)  HANDOFF_END(connections)
//
// or, pre-copied ("Pre-copy"), the state in parts, each its own checked stream:
//
//   STATE_PART(snapshot) STATE_BEGIN..STATE_END    while the old worker serves
//   (STATE_PART(changes) STATE_BEGIN..STATE_END)*  while it serves
//   STATE_PART(final) STATE_BEGIN..STATE_END       in the pause; connections follow
//
// with CONNECTIONS_AHEAD batches before and between the parts (connection_stream.h).
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
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "baton/channel.h"
#include "baton/connection.h"
#include "baton/connection_stream.h"
#include "baton/status.h"
#include "baton/unique_fd.h"

namespace baton {

struct HandoffTotals {
  std::uint64_t state_bytes = 0;
  std::uint32_t connections = 0;
};

// Sender. `write_state` serializes into the stream it is given (a cereal
// archive, say); throwing from it aborts the handoff.
Result<std::uint64_t> send_state(Channel& link, std::uint32_t version,
                                 const std::function<void(std::ostream&)>& write_state, Deadline deadline);
// One part of a pre-copied state: STATE_PART(kind), then send_state().
Result<std::uint64_t> send_state_part(Channel& link, StatePart::Kind kind, std::uint32_t version,
                                      const std::function<void(std::ostream&)>& write_state, Deadline deadline);

// One STATE_BEGIN..STATE_END stream written over as many calls as the sender
// likes: pre-copy writes its snapshot a slice per loop turn, serving between.
class StateWriter {
 public:
  // kBlocking: full chunks leave as they fill, waiting for room until the
  // deadline. kQueued: they wait in memory for pump(), so a sender that
  // serves between slices never blocks on a slow receiver.
  enum class Sending { kBlocking, kQueued };
  // Sends STATE_BEGIN (waiting at most until `deadline`, as every blocking send).
  static Result<std::unique_ptr<StateWriter>> begin(Channel& link, std::uint32_t version, Deadline deadline,
                                                    Sending sending = Sending::kBlocking);
  ~StateWriter();
  // A broken link sets status() and fails the stream.
  std::ostream& out();
  const Status& status() const;
  std::uint64_t written() const;  // bytes written to out() so far
  // Sends the last chunk and STATE_END (kQueued: queues them); returns the stream's length.
  Result<std::uint64_t> end();
  // kQueued: sends queued messages while the link takes them without waiting.
  Status pump();
  std::uint64_t queued_bytes() const;

  class Buffer;

 private:
  explicit StateWriter(std::unique_ptr<Buffer> buffer);
  std::unique_ptr<Buffer> buffer_;
  std::unique_ptr<std::ostream> out_;
};

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
// The whole state in either form. `state` loads the one-part form; a receiver
// that takes pre-copy also gives `snapshot` and `changes` (each called per part).
struct StateLoaders {
  std::function<void(std::istream&, std::uint32_t version)> state;
  std::function<void(std::istream&, std::uint32_t version)> snapshot;
  std::function<void(std::istream&, std::uint32_t version)> changes;
  // Connections lent ahead arrive between parts; null: this receiver refuses them.
  AheadConnections* ahead = nullptr;
};
struct ReceivedState {
  std::uint64_t bytes = 0;          // every part
  std::uint64_t precopy_bytes = 0;  // the parts before the final changes (0: one-part form)
  std::uint32_t parts = 1;
};
Result<ReceivedState> receive_state_parts(Channel& link, const StateReceiveOptions& options,
                                          const StateLoaders& loaders, Deadline deadline);

}  // namespace baton
