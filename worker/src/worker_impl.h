// Worker::Impl: libbaton's side of the channel. Everything a worker author
// does not need to see lives here: the channel, its poll handle, the
// handshake, and the handoff (handoff.cc).
//
// Message order, as PROTOCOL.md gives it: HELLO -> WELCOME, then (FEATURES)
// READY or STANDBY, then DRAIN; or, in handoff mode, (FEATURES) HANDOFF ->
// (PRECOPIED) SENT/RESTORED -> COMMIT or RESUME. Everything runs on the loop's thread.
#pragma once

#include <uv.h>

#include <memory>
#include <optional>

#include "baton/channel.h"
#include "baton/handoff_stream.h"
#include "baton/listener_socket.h"
#include "baton/uv_handle.h"
#include "baton/worker.h"
#include "flow_router.h"
#include "handoff_faults.h"
#include "precopy_sender.h"

namespace baton {

class Worker::Impl {
 public:
  Impl(uv_loop_t* loop, Options options) : loop_(loop), options_(std::move(options)) {}

  Status handshake(UniqueFd channel_fd);
  Status bind_standalone();
  Status watch_channel();
  Result<UniqueFd> take_listener(std::string_view name);
  Status ready();
  Status report_error(const std::string& message);
  Status report_unhealthy(const std::string& reason);
  void report_connections(std::size_t count);
  void going();  // told to go: baton hears the count from now on
  bool awaiting_handoff() const { return standby_ && target_.load_state != nullptr; }
  void finish() {
    poll_.close();
    if (flows_) flows_->close();
  }
  void on_flows(FlowSteering steering);
  bool steer(std::string_view listener, const sockaddr* from, std::span<const std::uint8_t> datagram);

  uv_loop_t* loop_;
  Options options_;
  std::uint64_t generation_ = 0;
  std::uint32_t index_ = 0;
  std::vector<WorkerListener> listeners_;
  std::vector<BoundListener> standalone_;  // keeps unix socket paths owned while standalone
  std::function<void(const DrainRequest&)> on_drain_;
  HandoffSource source_;
  HandoffTarget target_;
  std::function<void(std::vector<InheritedConnection>)> on_inherit_;
  Channel channel_;
  UniqueFd reserve_;  // /dev/null, closed around each receive (receive_with_reserve)
  UvHandle<uv_poll_t> poll_;  // after channel_: stops watching before the fd closes
  std::unique_ptr<FlowRouter> flows_;  // on_flows(): UDP flow steering

 private:
  Result<Channel::Received> receive_with_reserve();
  void read_channel();
  bool handle(Envelope& message);  // false: stop reading
  void deliver_drain(const DrainRequest& request);
  void inherit(Envelope& message);  // INHERIT
  // FEATURES said it steers flows: wait for the first STEER (its tag and inbox).
  Status await_steering();
  // handoff.cc
  void handle_handoff(Envelope& message);
  void start_precopy(std::uint32_t successor_features, Deadline deadline);
  void on_precopied(const PrecopySender::Outcome& outcome, Deadline deadline);
  void quiesce_then_send(Deadline deadline);
  void send_handoff(Deadline deadline);
  Result<std::uint64_t> send_state_for_handoff(Deadline deadline);
  void receive_handoff(UniqueFd link, Deadline deadline);
  void end_handoff();
  void handle_commit();
  void handle_park();
  void handle_resume();

  bool ready_sent_ = false;
  bool drain_delivered_ = false;
  bool standby_ = false;   // WELCOME asked for STANDBY
  bool features_ = false;  // WELCOME said baton takes FEATURES
  bool takes_clients_ = false;  // WELCOME said baton takes CLIENTS
  bool steers_offered_ = false;  // WELCOME said baton steers UDP flows
  // report_connections(): the application's count, and what baton was told last.
  std::optional<std::uint32_t> clients_, clients_sent_;
  bool told_to_go_ = false;  // DRAIN, PARK, or COMMIT as the sender: counts go to baton from now on
  std::uint32_t peer_features_ = 0;  // the successor's, from baton's FEATURES before HANDOFF
  enum class HandoffStage { kNone, kPrecopying, kSending, kSent, kParked, kReceived } handoff_ = HandoffStage::kNone;
  std::uint64_t handoff_serial_ = 0;  // tells a late quiesce callback from the current handoff's
  const HandoffFaults faults_ = handoff_faults();
  // The old side's link to its successor, from HANDOFF to SENT or RESUME.
  std::optional<Channel> link_;
  std::unique_ptr<PrecopySender> precopy_;  // after link_: gone before it
};

}  // namespace baton
