// libbaton's side of a handoff (PROTOCOL.md, "Handoff mode"). The old worker
// streams its state and connections to the new one over the link baton gave
// them both; baton only hears SENT / RESTORED / ERROR and decides COMMIT or
// RESUME (under --probation, PARK comes first: keep the state until then).
// Both sides block on the link with the handoff's deadline: the old worker
// is paused at that point and the new one is not serving yet. Pre-copy
// (precopy_sender.h) is the exception: the old worker sends its snapshot a
// slice per loop turn while it serves, and pauses only for the last changes.
#include <algorithm>
#include <string>
#include <utility>

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
  ++handoff_serial_;
  link_.emplace(std::move(link));
  // baton's FEATURES, if any, came just before this HANDOFF: it is about this successor only.
  const std::uint32_t successor = std::exchange(peer_features_, 0);
  if (source_.start_snapshot && (successor & kFeatureLoadsPrecopy) != 0) return start_precopy(successor, deadline);
  quiesce_then_send(deadline);
}

// Pre-copy: the state streams while this worker serves on; the pause comes after.
void Worker::Impl::start_precopy(std::uint32_t successor_features, Deadline deadline) {
  handoff_ = HandoffStage::kPrecopying;
  // Connections go ahead only to a successor that takes them.
  OpenConnections lend = (successor_features & kFeatureTakesConnectionsAhead) ? source_.open_connections : nullptr;
  precopy_ = std::make_unique<PrecopySender>(loop_, *link_, source_.state_version, source_.start_snapshot(),
                                             std::move(lend), deadline, faults_);
  Status st = precopy_->start([this, deadline](const PrecopySender::Outcome& o) { on_precopied(o, deadline); });
  if (!st) on_precopied({st}, deadline);
}

void Worker::Impl::on_precopied(const PrecopySender::Outcome& outcome, Deadline deadline) {
  if (!outcome.status) {
    // As in send_handoff: our own failure is reported; a broken link is baton's to see.
    if (outcome.failed_in_application) (void)channel_.send(Error{outcome.status.message().substr(0, kMaxStringBytes)});
    return;  // still serving: wait for RESUME
  }
  const PrecopyTotals& t = precopy_->totals();
  (void)channel_.send(Precopied{t.bytes, t.rounds, static_cast<std::uint32_t>(precopy_->lender().count())});
  quiesce_then_send(deadline);
}

void Worker::Impl::quiesce_then_send(Deadline deadline) {
  handoff_ = HandoffStage::kSending;
  // quiesce() may finish later (a response still being written); a RESUME
  // meanwhile, or a later handoff, makes this callback stale.
  source_.quiesce([this, deadline, serial = handoff_serial_] {
    if (serial == handoff_serial_ && handoff_ == HandoffStage::kSending) send_handoff(deadline);
  });
}

void Worker::Impl::send_handoff(Deadline deadline) {
  // Datagrams forwarded from now on wait in the inbox for the successor (or our RESUME).
  if (flows_) flows_->pause_reading();
  auto bytes = send_state_for_handoff(deadline);
  if (!bytes) return;  // wait for RESUME
  std::vector<ExportedConnection> connections = source_.export_connections();
  const ConnectionLender* lent = precopy_ ? &precopy_->lender() : nullptr;
  if (Status st = send_connections(*link_, connections, lent, deadline); !st) {
    // Refused by our own limits: say why, so baton rolls back at once and logs
    // it. A broken link (errno set) is the other worker's; baton sees that itself.
    if (st.error_number() == 0)
      (void)channel_.send(Error{("handing over connections: " + st.message()).substr(0, kMaxStringBytes)});
    return;  // wait for RESUME
  }
  handoff_ = HandoffStage::kSent;
  end_handoff();  // everything is on the link: our end may close
  (void)channel_.send(Sent{*bytes, static_cast<std::uint32_t>(connections.size())});
}

// The whole state, or after a pre-copy the final changes; the bytes of every
// part. Our own failure (save_state threw) is reported, so baton rolls back
// at once. A broken link is not ours to report: the new worker died or
// stalled, baton sees that itself and sends RESUME either way.
Result<std::uint64_t> Worker::Impl::send_state_for_handoff(Deadline deadline) {
  if (precopy_) {
    std::uint64_t bytes = 0;
    auto sent = precopy_->send_final(bytes, faults_.after_save_state);
    if (!sent.status) {
      if (sent.failed_in_application) (void)channel_.send(Error{sent.status.message().substr(0, kMaxStringBytes)});
      return sent.status;
    }
    return precopy_->totals().bytes + bytes;
  }
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
  auto bytes = send_state(*link_, source_.state_version, save, deadline);
  // save_state also throws when the link broke under it (errno set): that is
  // the new worker's failure, which baton sees and names itself.
  if (!bytes && saving_failed && bytes.status().error_number() == 0)
    (void)channel_.send(Error{bytes.status().message().substr(0, kMaxStringBytes)});
  return bytes;
}

// The old side's link and pre-copy are done with (committed, parked, resumed).
void Worker::Impl::end_handoff() {
  precopy_.reset();
  link_.reset();
}

void Worker::Impl::receive_handoff(UniqueFd link_fd, Deadline deadline) {
  Channel link(faults_.wrap_link ? faults_.wrap_link(std::move(link_fd)) : std::move(link_fd));
  // Each loader behind the fault hook a test build may set before it.
  auto hooked = [](const std::function<void(std::istream&)>& fault,
                   const std::function<void(std::istream&, std::uint32_t)>& load) {
    return [&fault, &load](std::istream& in, std::uint32_t version) {
      if (fault) fault(in);
      load(in, version);
    };
  };
  StateLoaders loaders{hooked(faults_.before_load_state, target_.load_state), nullptr, nullptr};
  // Connections lent ahead: prepared by the application, or held here until the pause names them.
  AheadConnections ahead(target_.prepare_connections);
  if (target_.load_snapshot && target_.load_changes) {
    loaders.snapshot = hooked(faults_.before_load_state, target_.load_snapshot);
    loaders.changes = hooked(faults_.before_load_changes, target_.load_changes);
    loaders.ahead = &ahead;
  }
  auto state = receive_state_parts(link, {target_.state_versions}, loaders, deadline);
  if (!state) {
    (void)channel_.send(Error{("restoring state: " + state.status().message()).substr(0, kMaxStringBytes)});
    return;  // baton kills this worker and resumes the old one
  }
  auto connections = receive_connections(link, kMaxHandedConnections, &ahead, deadline);
  if (!connections) {
    (void)channel_.send(Error{"adopting connections: " + connections.status().message()});
    return;
  }
  const auto count = static_cast<std::uint32_t>(connections->size());
  if (target_.adopt_connections) target_.adopt_connections(std::move(connections.value()));
  handoff_ = HandoffStage::kReceived;
  (void)channel_.send(Restored{state->bytes, count});
}

void Worker::Impl::handle_commit() {
  if (handoff_ == HandoffStage::kReceived) {
    handoff_ = HandoffStage::kNone;
    if (flows_) flows_->start_reading();  // the predecessor's inbox, ours now
    if (target_.commit) target_.commit();
    if (faults_.after_commit) faults_.after_commit([this](const std::string& why) { (void)report_unhealthy(why); });
    return;
  }
  if (handoff_ == HandoffStage::kSent || handoff_ == HandoffStage::kParked) {
    // Nothing follows COMMIT for the old worker: stop watching so its loop can end.
    poll_.close();
    going();
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
  going();
}

void Worker::Impl::handle_resume() {
  const HandoffStage stage = std::exchange(handoff_, HandoffStage::kNone);
  end_handoff();
  // Pre-copying, it never stopped serving: there is nothing to resume.
  if (stage == HandoffStage::kSending || stage == HandoffStage::kSent || stage == HandoffStage::kParked) {
    if (flows_) flows_->start_reading();
    if (source_.resume) source_.resume();
  } else if (stage != HandoffStage::kPrecopying) {
    handoff_ = stage;  // a RESUME with no handoff of ours to call off
  }
}

}  // namespace baton
