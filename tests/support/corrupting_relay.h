// A relay that stands between the two ends of a handoff link and corrupts
// the state in transit: every message goes from `from` to `to` unchanged
// (fds included) but one byte, so the receiver's checksum must catch it. For
// the checksum's tests: the stream unit test, and the corrupt-state fault of
// libbaton_faulty.
#pragma once

#include <thread>

#include "baton/channel.h"

namespace testing_support {

enum class Corrupt {
  // The last byte of the first STATE_CHUNK: for state an application reads
  // as plain bytes (a flipped length field would make a real loader fail
  // before the checksum is reached).
  kFirstChunk,
  // A byte of STATE_END's checksum: the state loads, the checksum refuses it.
  kChecksum,
  // Pre-copy: a byte of the checksum of the first part after the snapshot
  // (a round of changes, or the final one).
  kChangesChecksum,
};

// Relays on a thread of its own until HANDOFF_END, a closed end or an error.
std::thread start_corrupting_relay(baton::Channel from, baton::Channel to, Corrupt what);

}  // namespace testing_support
