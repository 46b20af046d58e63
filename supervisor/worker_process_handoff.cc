// WorkerProcess, handoff mode: HANDOFF with the link, COMMIT, RESUME, and the
// replies that may cross a RESUME. The message handling itself is in
// worker_process.cc (handle()).
#include <spdlog/spdlog.h>

#include <csignal>

#include "duration.h"
#include "worker_process.h"

namespace baton {

Status WorkerProcess::begin_handoff(bool sender, const std::vector<std::uint32_t>& accepted_versions,
                                    std::chrono::milliseconds timeout, int link_fd) {
  const State expected = sender ? State::kReady : State::kStandby;
  if (state_ != expected)
    return Status::error(name_ + " cannot take HANDOFF while " + state_name(state_));
  Handoff h{sender ? Handoff::kSender : Handoff::kReceiver, accepted_versions,
            static_cast<std::uint32_t>(timeout.count())};
  const int fds[] = {link_fd};
  if (Status st = channel_.send(h, fds); !st) return st.with_context(name_ + ": sending HANDOFF");
  handoff_sender_ = sender;
  late_handoff_reply_ok_ = false;
  state_ = State::kHandingOff;
  return Status::ok();
}

void WorkerProcess::commit(std::chrono::milliseconds drain_timeout) {
  // An old worker's SENT may still be on its way: its successor's RESTORED
  // already proves that everything arrived.
  const bool old = handoff_sender_ && (state_ == State::kSent || state_ == State::kHandingOff);
  if (state_ != State::kRestored && !old) return;
  late_handoff_reply_ok_ = state_ == State::kHandingOff;
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
  deadline_.start(drain_timeout, [this, drain_timeout] {
    spdlog::warn("{} still running {} after COMMIT; sending SIGTERM", name_, format_duration(drain_timeout));
    send_signal(SIGTERM);
    escalate_to_kill();
  });
}

void WorkerProcess::resume() {
  if (!handoff_sender_ || (state_ != State::kHandingOff && state_ != State::kSent)) return;
  if (Status st = channel_.send(Resume{}); !st) return reject("sending RESUME: " + st.message());
  // Its SENT or ERROR may already be on the way, crossing our RESUME.
  late_handoff_reply_ok_ = state_ == State::kHandingOff;
  state_ = State::kReady;
}

void WorkerProcess::ignore_late_handoff_reply(const std::string& what) {
  late_handoff_reply_ok_ = false;
  spdlog::debug("{}: {} arrived after RESUME; ignored", name_, what);
}

}  // namespace baton
