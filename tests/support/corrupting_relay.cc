#include "support/corrupting_relay.h"

#include <vector>

namespace testing_support {

std::thread start_corrupting_relay(baton::Channel from, baton::Channel to, Corrupt what) {
  const auto target = what == Corrupt::kFirstChunk ? baton::MessageType::kStateChunk : baton::MessageType::kStateEnd;
  return std::thread([from = std::move(from), to = std::move(to), target, what]() mutable {
    using namespace std::chrono_literals;
    bool corrupted = false;
    int parts = 0;  // STATE_PARTs seen: kChangesChecksum waits for the second
    for (;;) {
      auto r = from.receive_wait(30s);
      if (!r || r->outcome != baton::Channel::Outcome::kMessage) return;
      baton::Envelope& m = r->message;
      if (m.type == baton::MessageType::kStatePart) ++parts;
      const bool its_turn = what != Corrupt::kChangesChecksum || parts >= 2;
      if (m.type == target && its_turn && !corrupted && !m.body.empty()) {
        m.body.back() ^= 0x5A;
        corrupted = true;
      }
      std::vector<int> fds;
      for (const auto& fd : m.fds) fds.push_back(fd.get());
      if (!to.send_raw(m.type, m.body, fds, baton::Channel::Clock::now() + 30s)) return;
      if (m.type == baton::MessageType::kHandoffEnd) return;
    }
  });
}

}  // namespace testing_support
