// WorkerProcess, handoff mode: HANDOFF with the link, the worker's replies
// (SENT, RESTORED, ERROR), COMMIT, RESUME, PARK (--probation), and the
// replies that may cross a RESUME or PARK.
#include <spdlog/spdlog.h>

#include <csignal>

#include "duration.h"
#include "logging.h"
#include "worker_process.h"

namespace baton {

Status WorkerProcess::begin_handoff(HandoffRole role, const Successor& successor, std::chrono::milliseconds timeout,
                                    int link_fd) {
  const bool sender = role == HandoffRole::kSender;
  const State expected = sender ? State::kReady : State::kStandby;
  if (state_ != expected)
    return Status::error(name_ + " cannot take HANDOFF while " + state_name(state_));
  // Only a worker that said FEATURES itself hears one (an older one would not know the type).
  if (sender && features_)
    if (Status st = channel_.send(Features{successor.features}); !st) return st.with_context(name_ + ": sending FEATURES");
  Handoff h{sender ? Handoff::kSender : Handoff::kReceiver, sender ? successor.state_versions : std::vector<std::uint32_t>{},
            static_cast<std::uint32_t>(timeout.count())};
  const int fds[] = {link_fd};
  if (Status st = channel_.send(h, fds); !st) return st.with_context(name_ + ": sending HANDOFF");
  handoff_sender_ = sender;
  late_replies_ = 0;
  state_ = State::kHandingOff;
  return Status::ok();
}

void WorkerProcess::on_handoff_reply(const Envelope& m) {
  if (m.type == MessageType::kError) {
    auto e = m.as<Error>();
    if (!e) return reject("protocol error: " + e.status().message());
    // An old worker that cannot hand off says so and keeps everything: not a fault.
    if (handoff_sender_) return events_.on_refused(*this, printable(e->message));
    return reject("reported an error: " + printable(e->message));
  }
  if (handoff_sender_ && m.type == MessageType::kPrecopied) {
    auto precopied = m.as<Precopied>();
    if (!precopied) return reject("protocol error: " + precopied.status().message());
    return events_.on_precopied(*this, *precopied);
  }
  if (handoff_sender_) {
    auto sent = m.as<Sent>();
    if (!sent) return reject("protocol error: " + sent.status().message());
    state_ = State::kSent;
    return events_.on_sent(*this, {sent->state_bytes, sent->connections});
  }
  auto restored = m.as<Restored>();
  if (!restored) return reject("protocol error: " + restored.status().message());
  state_ = State::kRestored;
  events_.on_restored(*this, {restored->state_bytes, restored->connections});
}

// An old worker between its HANDOFF and its exit: one COMMIT or PARK may go to it.
bool WorkerProcess::handed_off() const {
  return handoff_sender_ && (state_ == State::kSent || state_ == State::kHandingOff);
}

void WorkerProcess::commit(std::chrono::milliseconds drain_timeout) {
  // An old worker's SENT may still be on its way: its successor's RESTORED
  // already proves that everything arrived.
  const bool old = handed_off() || state_ == State::kParking || state_ == State::kParked;
  if (state_ != State::kRestored && !old) return;
  expect_late_reply();
  if (Status st = channel_.send(Commit{}); !st) {
    if (!old) return reject("sending COMMIT: " + st.message());
    spdlog::warn("{}: could not send COMMIT ({}); sending SIGTERM", name_, st.message());
    return terminate();
  }
  if (!old) {
    state_ = State::kReady;
    return;
  }
  // The old worker exits on COMMIT; the deadline only catches one that does not.
  state_ = State::kDraining;
  terminate_after(drain_timeout, "COMMIT");
}

void WorkerProcess::park(std::chrono::milliseconds drain_timeout) {
  if (!handed_off()) return;
  if (Status st = channel_.send(Park{}); !st) {
    spdlog::warn("{}: could not send PARK ({}); sending SIGTERM", name_, st.message());
    return terminate();
  }
  expect_late_reply();
  park_grace_ = drain_timeout;
  state_ = State::kParking;
}

void WorkerProcess::on_park_reply(const Envelope& m) {
  if (m.type == MessageType::kParked) {
    if (auto parked = m.as<Parked>(); !parked) return reject("protocol error: " + parked.status().message());
    state_ = State::kParked;
    return spdlog::debug("{} parked", name_);
  }
  auto e = m.as<Error>();
  if (!e) return reject("protocol error: " + e.status().message() + " (PARKED or ERROR expected after PARK)");
  spdlog::info("{} cannot park ({}): a rollback will start its executable afresh; sending COMMIT", name_,
               printable(e->message));
  state_ = State::kSent;  // answered: COMMIT expects no further reply
  commit(park_grace_);
}

// Also ends a park: the rollback of a successor on probation.
void WorkerProcess::resume() {
  if (!handed_off() && state_ != State::kParked) return;
  if (Status st = channel_.send(Resume{}); !st) return reject("sending RESUME: " + st.message());
  // Its SENT or ERROR may already be on the way, crossing our RESUME.
  expect_late_reply();
  state_ = State::kReady;
}

void WorkerProcess::expect_late_reply() {
  if (state_ == State::kHandingOff || state_ == State::kParking) ++late_replies_;
}

void WorkerProcess::ignore_late_handoff_reply(const std::string& what) {
  --late_replies_;
  spdlog::debug("{}: {} arrived after the handoff was called off; ignored", name_, what);
}

}  // namespace baton
