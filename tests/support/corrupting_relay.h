// A relay that stands between the two ends of a handoff link and corrupts
// the state in transit: every message goes from `from` to `to` unchanged
// (fds included) except the first STATE_CHUNK, whose last byte is flipped,
// so the receiver's checksum must catch it. For the checksum's tests: the
// stream unit test, and the corrupt-state fault of libbaton_faulty.
#pragma once

#include <thread>

#include "baton/channel.h"

namespace testing_support {

// Relays on a thread of its own until HANDOFF_END, a closed end or an error.
std::thread start_corrupting_relay(baton::Channel from, baton::Channel to);

}  // namespace testing_support
