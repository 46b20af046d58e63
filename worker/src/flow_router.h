// FlowRouter: libbaton's side of UDP flow steering (PROTOCOL.md, "UDP flow
// steering"). It keeps this worker's inbox and the other steering workers'
// (from STEER), sends a datagram of another worker's flow to that worker's
// inbox, and reads its own inbox into the application's deliver().
//
// When it reads its inbox follows the worker's life: from READY (or from
// COMMIT, for a worker that takes a handoff: the inbox is its
// predecessor's until then); not from the handoff's pause until RESUME
// (the successor reads it after COMMIT); after DRAIN without holding the
// loop open, so the worker ends once its own handles (its flows) are gone.
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "baton/channel.h"
#include "baton/uv_handle.h"
#include "baton/worker.h"

namespace baton {

class FlowRouter {
 public:
  FlowRouter(uv_loop_t* loop, const std::vector<WorkerListener>& listeners, std::uint64_t generation)
      : loop_(loop), listeners_(listeners), generation_(generation) {}

  void configure(FlowSteering steering) { steering_ = std::move(steering); }
  bool wanted() const { return steering_.classify && steering_.deliver; }
  // A STEER: the first gives this worker its tag and inbox; each adds and removes peers.
  Status apply(Envelope& message);
  std::uint32_t tag() const { return own_tag_; }

  bool steer(std::string_view listener, const sockaddr* from, std::span<const std::uint8_t> datagram, bool going);
  FlowStats stats() const { return stats_; }

  void start_reading();
  void pause_reading();
  void release_loop();  // keep reading, but let the loop end without it
  void close() { poll_.close(); }

 private:
  struct Peer {
    UniqueFd inbox;  // its write end
    std::uint64_t generation = 0;
    std::uint32_t index = 0;
  };
  std::uint32_t owner_of(std::string_view listener, const sockaddr* from, std::span<const std::uint8_t> datagram,
                         bool going) const;
  const Peer* newest_peer(const sockaddr* from) const;  // for a new flow that reached a draining worker
  bool forward(Peer& peer, std::uint16_t listener, const sockaddr* from, std::span<const std::uint8_t> datagram);
  void read_inbox();
  int listener_index(std::string_view name) const;

  uv_loop_t* loop_;
  const std::vector<WorkerListener>& listeners_;
  std::uint64_t generation_;
  FlowSteering steering_;
  std::uint32_t own_tag_ = 0;
  UniqueFd inbox_;
  std::map<std::uint32_t, Peer> peers_;  // by tag
  FlowStats stats_;
  std::vector<std::uint8_t> buffer_;
  UvHandle<uv_poll_t> poll_;  // after inbox_: stops watching before the fd closes
  bool polling_ = false;
};

}  // namespace baton
