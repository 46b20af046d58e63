// libbaton's side of a handoff (PROTOCOL.md, "Handoff mode"). The old worker
// streams its state and connections to the new one over the link baton gave
// them both; baton only hears SENT / RESTORED / ERROR and decides COMMIT or
// RESUME (under --probation, PARK comes first: keep the state until then).
// Both sides block on the link with the handoff's deadline: the old worker
// is paused at that point and the new one is not serving yet.
#include <algorithm>
#include <string>

#include "worker_impl.h"

namespace baton {

void Worker::Impl::handle_handoff(Envelope& m) {
  auto h = m.as<baton::Handoff>();
  auto refuse = [&](const std::string& why) { (void)channel_.send(Error{why}); };
  if (!h) return refuse("bad HANDOFF: " + h.status().message());
  if (m.fds_lost)
    return refuse("the handoff link could not be received: this worker is at its open-files limit; "
                  "it serves on with everything it has (raise its limit: ulimit -n, LimitNOFILE=)");
  if (m.fds.size() != 1) return refuse("HANDOFF must carry exactly one fd (the link)");
  UniqueFd link(std::move(m.fds[0]));
  const Deadline deadline = Channel::Clock::now() + std::chrono::milliseconds(h->timeout_ms);

  if (h->role == baton::Handoff::kReceiver) {
    if (!target_.load_state) return refuse("this worker cannot receive a handoff (no on_restore)");
    return receive_handoff(std::move(link), deadline);
  }
  if (!source_.save_state) return refuse("this worker does not hand off its state (no on_handoff); use --mode drain");
  // Version negotiation comes before anything pauses.
  const auto& ok = h->accepted_versions;
  if (std::find(ok.begin(), ok.end(), source_.state_version) == ok.end())
    return refuse("its state version " + std::to_string(source_.state_version) +
                  " is not one the new worker loads " + versions_text(ok));
  handoff_ = HandoffStage::kSending;
  // quiesce() may finish later (a response still being written): the link
  // waits in the callback, owned by a shared_ptr the callback holds.
  auto held = std::make_shared<UniqueFd>(std::move(link));
  source_.quiesce([this, held, deadline] { send_handoff(std::move(*held), deadline); });
}

void Worker::Impl::send_handoff(UniqueFd link_fd, Deadline deadline) {
  if (handoff_ != HandoffStage::kSending) return;  // RESUMEd meanwhile
  Channel link(std::move(link_fd));
  // Our own failure (save_state threw) is reported, so baton rolls back at
  // once. A broken link is not ours to report: the new worker died or
  // stalled, baton sees that itself and sends RESUME either way.
  bool saving_failed = false;
  auto save = [&](std::ostream& out) {
    try {
      source_.save_state(out);
      if (faults_.after_save_state) faults_.after_save_state();
    } catch (...) {
      saving_failed = true;
      throw;
    }
  };
  auto bytes = send_state(link, source_.state_version, save, deadline);
  if (!bytes) {
    if (saving_failed) (void)channel_.send(Error{bytes.status().message()});
    return;  // wait for RESUME
  }
  std::vector<ExportedConnection> connections = source_.export_connections();
  if (Status st = send_connections(link, connections, deadline); !st) {
    // Refused by our own limits: say why, so baton rolls back at once and logs
    // it. A broken link (errno set) is the other worker's; baton sees that itself.
    if (st.error_number() == 0)
      (void)channel_.send(Error{("handing over connections: " + st.message()).substr(0, kMaxStringBytes)});
    return;  // wait for RESUME
  }
  handoff_ = HandoffStage::kSent;
  (void)channel_.send(Sent{*bytes, static_cast<std::uint32_t>(connections.size())});
}

void Worker::Impl::receive_handoff(UniqueFd link_fd, Deadline deadline) {
  Channel link(faults_.wrap_link ? faults_.wrap_link(std::move(link_fd)) : std::move(link_fd));
  auto load = [&](std::istream& in, std::uint32_t version) {
    if (faults_.before_load_state) faults_.before_load_state(in);
    target_.load_state(in, version);
  };
  auto bytes = receive_state(link, {target_.state_versions}, load, deadline);
  if (!bytes) {
    (void)channel_.send(Error{"restoring state: " + bytes.status().message()});
    return;  // baton kills this worker and resumes the old one
  }
  auto connections = receive_connections(link, 1'000'000, deadline);
  if (!connections) {
    (void)channel_.send(Error{"adopting connections: " + connections.status().message()});
    return;
  }
  const auto count = static_cast<std::uint32_t>(connections->size());
  if (target_.adopt_connections) target_.adopt_connections(std::move(connections.value()));
  handoff_ = HandoffStage::kReceived;
  (void)channel_.send(Restored{*bytes, count});
}

void Worker::Impl::handle_commit() {
  if (handoff_ == HandoffStage::kReceived) {
    handoff_ = HandoffStage::kNone;
    if (target_.commit) target_.commit();
    return;
  }
  if (handoff_ == HandoffStage::kSent || handoff_ == HandoffStage::kParked) {
    // Nothing follows COMMIT for the old worker: stop watching so its loop can end.
    poll_.close();
    if (source_.committed) source_.committed();
  }
}

// The successor serves on probation: let go of its connections, keep the state.
void Worker::Impl::handle_park() {
  if (handoff_ != HandoffStage::kSent) return;
  if (!source_.park) {
    (void)channel_.send(Error{"this worker cannot park (no park callback in on_handoff); it exits on COMMIT"});
    return;
  }
  handoff_ = HandoffStage::kParked;
  source_.park();
  (void)channel_.send(Parked{});
}

void Worker::Impl::handle_resume() {
  if (handoff_ != HandoffStage::kSending && handoff_ != HandoffStage::kSent && handoff_ != HandoffStage::kParked)
    return;
  handoff_ = HandoffStage::kNone;
  if (source_.resume) source_.resume();
}

}  // namespace baton
