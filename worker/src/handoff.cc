// libbaton's side of a handoff (PROTOCOL.md, "Handoff mode"). The old worker
// streams its state and connections to the new one over the link baton gave
// them both; baton only hears SENT / RESTORED / ERROR and decides COMMIT or
// RESUME. Both sides block on the link with the handoff's deadline: the old
// worker is paused at that point and the new one is not serving yet.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "baton/worker.h"

namespace baton {
namespace {

// LIBBATON_FAULT makes a worker fail on purpose, for rollback tests. New side:
//   reject-schema      refuse the state as it starts loading
//   crash-mid-restore  abort() after the first bytes of state
//   corrupt-state      flip a byte as it arrives (the checksum catches it)
// Old side:
//   crash-mid-send     abort() before the state's last chunk and STATE_END leave
std::string fault() {
  const char* f = std::getenv("LIBBATON_FAULT");
  return f ? f : "";
}

std::string versions_text(const std::vector<std::uint32_t>& v) {
  std::string out;
  for (auto x : v) out += (out.empty() ? "" : ", ") + std::to_string(x);
  return "[" + out + "]";
}

}  // namespace

void Worker::handle_handoff(const Envelope& m) {
  auto h = m.as<baton::Handoff>();
  auto refuse = [&](const std::string& why) { (void)channel_.send(Error{why}); };
  if (!h) return refuse("bad HANDOFF: " + h.status().message());
  if (m.fds.size() != 1) return refuse("HANDOFF must carry exactly one fd (the link)");
  UniqueFd link(std::move(const_cast<Envelope&>(m).fds[0]));
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

void Worker::send_handoff(UniqueFd link_fd, Deadline deadline) {
  if (handoff_ != HandoffStage::kSending) return;  // RESUMEd meanwhile
  Channel link(std::move(link_fd));
  // Our own failure (save_state threw) is reported, so baton rolls back at
  // once. A broken link is not ours to report: the new worker died or
  // stalled, baton sees that itself and sends RESUME either way.
  bool saving_failed = false;
  const bool crash = fault() == "crash-mid-send";
  auto save = [&](std::ostream& out) {
    try {
      source_.save_state(out);
      if (crash) std::abort();  // the state's last chunk and STATE_END never leave
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
  if (Status st = send_connections(link, connections, deadline); !st) return;  // wait for RESUME
  handoff_ = HandoffStage::kSent;
  (void)channel_.send(Sent{*bytes, static_cast<std::uint32_t>(connections.size())});
}

void Worker::receive_handoff(UniqueFd link_fd, Deadline deadline) {
  Channel link(std::move(link_fd));
  const std::string f = fault();
  StateReceiveOptions options{target_.state_versions};
  options.corrupt_for_test = f == "corrupt-state";
  auto load = [&](std::istream& in, std::uint32_t version) {
    if (f == "reject-schema") throw std::runtime_error("schema rejected (LIBBATON_FAULT=reject-schema)");
    if (f == "crash-mid-restore") {
      in.get();
      std::abort();
    }
    target_.load_state(in, version);
  };
  auto bytes = receive_state(link, options, load, deadline);
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

void Worker::handle_commit() {
  if (handoff_ == HandoffStage::kReceived) {
    handoff_ = HandoffStage::kNone;
    if (target_.commit) target_.commit();
    return;
  }
  if (handoff_ == HandoffStage::kSent) {
    // Nothing follows COMMIT for the old worker: stop watching so its loop can end.
    poll_.close();
    if (source_.committed) source_.committed();
  }
}

void Worker::handle_resume() {
  if (handoff_ != HandoffStage::kSending && handoff_ != HandoffStage::kSent) return;
  handoff_ = HandoffStage::kNone;
  if (source_.resume) source_.resume();
}

}  // namespace baton
