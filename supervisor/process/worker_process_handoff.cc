// WorkerProcess, carrying out commands (worker_protocol.h decides what each
// does where the worker stands), and the handoff: HANDOFF with the link, the
// worker's replies (PRECOPIED, SENT, RESTORED, ERROR), COMMIT, RESUME, PARK
// (--probation).
#include <spdlog/spdlog.h>

#include <csignal>

#include "duration.h"
#include "logging.h"
#include "worker_process.h"

namespace baton {

using worker_protocol::Command;
using worker_protocol::Escalation;
using worker_protocol::Reaction;

Status WorkerProcess::carry_out(Command command, const Outgoing& out) {
  auto order = worker_protocol::on_command(stage_, command);
  // A command that needs another first (a stop RESUMEs an old worker in a
  // handoff before its DRAIN): that one, with its own failure handling, then
  // this one from where the worker stands then.
  if (order.first) {
    switch (*order.first) {
      case Command::kResume: resume(); break;
      case Command::kCommit: commit(out.grace); break;
      default: terminate(); break;
    }
    if (!rejected_.empty()) return Status::ok();  // it is being killed: nothing more to say
    order = worker_protocol::on_command(stage_, command);
    if (order.first) return Status::error(name_ + ": " + worker_protocol::command_name(command) + " found no way");
  }
  if (!order.refused.empty()) return Status::error(name_ + " " + order.refused);
  for (MessageType type : order.sends)
    if (Status st = send_message(type, out); !st) return st;
  stage_ = order.next;
  if (order.escalation == Escalation::kSigtermAfterGrace)
    terminate_after(out.grace, order.sends.back() == MessageType::kDrain ? "DRAIN" : "COMMIT");
  if (order.escalation == Escalation::kSigtermNow) {
    send_signal(SIGTERM);
    escalate_to_kill();
  }
  return Status::ok();
}

Status WorkerProcess::send_message(MessageType type, const Outgoing& out) {
  switch (type) {
    case MessageType::kDrain: return channel_.send(Drain{static_cast<std::uint32_t>(out.grace.count())});
    case MessageType::kCommit: return channel_.send(Commit{});
    case MessageType::kPark: return channel_.send(Park{});
    case MessageType::kResume: return channel_.send(Resume{});
    case MessageType::kPing: return channel_.send(Ping{out.ping});
    case MessageType::kInherit: return send_inherit(*out.inherited);
    case MessageType::kFeatures: return channel_.send(Features{out.successor ? out.successor->features : 0});
    case MessageType::kHandoff: {
      const bool sender = out.successor != nullptr;
      Handoff h{sender ? Handoff::kSender : Handoff::kReceiver,
                sender ? out.successor->state_versions : std::vector<std::uint32_t>{},
                static_cast<std::uint32_t>(out.handoff_timeout.count())};
      const int fds[] = {out.link_fd};
      return channel_.send(h, fds);
    }
    default: return Status::error("baton never sends " + message_type_name(static_cast<std::uint16_t>(type)));
  }
}

Status WorkerProcess::begin_handoff(HandoffRole role, const Successor& successor, std::chrono::milliseconds timeout,
                                    int link_fd) {
  const bool sender = role == HandoffRole::kSender;
  Outgoing out{.successor = sender ? &successor : nullptr, .handoff_timeout = timeout, .link_fd = link_fd};
  if (Status st = carry_out(sender ? Command::kHandoffAsSender : Command::kHandoffAsReceiver, out); !st)
    return st.with_context(name_ + ": sending HANDOFF");
  return Status::ok();
}

void WorkerProcess::on_handoff_reply(const Envelope& m, const worker_protocol::Reply& reply) {
  if (reply.reaction == Reaction::kRefused) {
    auto e = m.as<Error>();
    if (!e) return reject("protocol error: " + e.status().message());
    // An old worker that cannot hand off says so and keeps everything: not a fault.
    return events_.on_refused(*this, printable(e->message));
  }
  if (reply.reaction == Reaction::kPrecopied) {
    auto precopied = m.as<Precopied>();
    if (!precopied) return reject("protocol error: " + precopied.status().message());
    return events_.on_precopied(*this, *precopied);
  }
  if (reply.reaction == Reaction::kSent) {
    auto sent = m.as<Sent>();
    if (!sent) return reject("protocol error: " + sent.status().message());
    stage_ = reply.next;
    return events_.on_sent(*this, {sent->state_bytes, sent->connections});
  }
  auto restored = m.as<Restored>();
  if (!restored) return reject("protocol error: " + restored.status().message());
  stage_ = reply.next;
  events_.on_restored(*this, {restored->state_bytes, restored->connections});
}

void WorkerProcess::commit(std::chrono::milliseconds drain_timeout) {
  const bool old = stage_.state != State::kRestored;  // what COMMIT means to this worker, if it goes
  if (Status st = carry_out(Command::kCommit, {.grace = drain_timeout}); !st) {
    if (!old) return reject("sending COMMIT: " + st.message());
    spdlog::warn("{}: could not send COMMIT ({}); sending SIGTERM", name_, st.message());
    terminate();
  }
}

void WorkerProcess::park(std::chrono::milliseconds drain_timeout) {
  park_grace_ = drain_timeout;
  if (Status st = carry_out(Command::kPark, {}); !st) {
    spdlog::warn("{}: could not send PARK ({}); sending SIGTERM", name_, st.message());
    terminate();
  }
}

void WorkerProcess::on_park_reply(const Envelope& m, const worker_protocol::Reply& reply) {
  if (reply.reaction == Reaction::kParked) {
    if (auto parked = m.as<Parked>(); !parked) return reject("protocol error: " + parked.status().message());
    stage_ = reply.next;
    return spdlog::debug("{} parked", name_);
  }
  auto e = m.as<Error>();
  if (!e) return reject("protocol error: " + e.status().message() + " (PARKED or ERROR expected after PARK)");
  spdlog::info("{} cannot park ({}): a rollback will start its executable afresh; sending COMMIT", name_,
               printable(e->message));
  stage_ = reply.next;  // answered: COMMIT expects no further reply
  commit(park_grace_);
}

// Also ends a park: the rollback of a successor on probation.
void WorkerProcess::resume() {
  if (Status st = carry_out(Command::kResume, {}); !st) reject("sending RESUME: " + st.message());
}

}  // namespace baton
