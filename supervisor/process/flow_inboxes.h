// FlowInboxes: the inboxes of the workers that steer UDP flows
// (PROTOCOL.md, "UDP flow steering"), and who knows of whom.
//
// Every steering worker gets an inbox, a datagram socketpair: it reads one
// end, and every other steering worker gets the other end, the address to
// forward the datagrams of the flows it owns. Each inbox has a tag, the
// number the application writes into its flow ids. A worker that takes a
// handoff shares its predecessor's inbox and tag: the flows move with the
// state, the datagrams already forwarded wait in the inbox, and nobody else
// needs to learn anything. In drain mode old and new serve side by side, so
// each worker has an inbox of its own.
//
// Forwarded datagrams never pass through baton: it only hands out fds (STEER),
// when a worker joins and when its inbox is gone.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "baton/protocol.h"
#include "baton/status.h"
#include "baton/unique_fd.h"

namespace baton {

// What FlowInboxes sends STEER through (a WorkerProcess).
class SteerTarget {
 public:
  virtual void send_steer(const Steer& message, std::span<const int> fds) = 0;

 protected:
  ~SteerTarget() = default;
};

class FlowInboxes {
 public:
  explicit FlowInboxes(bool enabled) : enabled_(enabled) {}
  // --udp-steering, and a UDP listener to steer for.
  bool enabled() const { return enabled_; }

  // A worker said FEATURES_STEERS_FLOWS: it gets its inbox and every other
  // inbox; the others get its inbox, unless it shares one (`takes_handoff`:
  // the latest steering worker of the same slot is its predecessor).
  Status join(SteerTarget& worker, std::uint64_t generation, std::uint32_t index, bool takes_handoff);
  // The worker exited. When nobody reads its inbox any more, the others hear so.
  void leave(SteerTarget& worker);
  std::size_t inboxes() const;

 private:
  struct Inbox {
    std::uint32_t tag = 0;
    std::uint64_t generation = 0;  // of the latest worker reading it
    std::uint32_t index = 0;
    UniqueFd read, write;
  };
  struct Member {
    SteerTarget* worker;
    std::shared_ptr<Inbox> inbox;
  };
  Result<std::shared_ptr<Inbox>> open_inbox(std::uint64_t generation, std::uint32_t index);
  // To `worker`: its own inbox first, then every other one (in batches of
  // kMaxSteerPeers, the fds one datagram can carry).
  void introduce(SteerTarget& worker, const Inbox& own);
  void announce(const Inbox& added, const SteerTarget& except);

  bool enabled_;
  std::uint32_t next_tag_ = 1;
  std::vector<Member> members_;  // in the order they joined
};

}  // namespace baton
