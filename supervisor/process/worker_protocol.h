// A worker's protocol as baton keeps it (shared/PROTOCOL.md, "Which messages
// a worker may receive" and "Message order"), as pure decisions: where a
// worker stands plus one message from it, or one command of the
// supervisor's, give its next stage and what to do. WorkerProcess carries
// them out; the channel, the pidfd, the timers and kill() stay there.
// tests/unit/worker_protocol_test.cc checks it against PROTOCOL.md's table.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "baton/protocol.h"
#include "worker_handle.h"

namespace baton::worker_protocol {

// Where a worker stands: its state, and what it was told or said.
struct Stage {
  WorkerState state = WorkerState::kStarting;
  bool standby = false;        // its WELCOME had STANDBY: it must say STANDBY, not READY
  bool sender = false;         // its last HANDOFF made it the sender (an old worker)
  bool features_said = false;  // it sent FEATURES
  bool heartbeat = false;      // ...with ANSWERS_PING: it answers PING with PONG
  bool serves_inherited = false;  // ...with SERVES_INHERITED: it takes a hung worker's clients (INHERIT)
  unsigned late_replies = 0;   // replies on their way that no longer matter (crossed a RESUME, PARK or stop)

  bool operator==(const Stage&) const = default;
  // An old worker between its HANDOFF and its exit: one COMMIT or PARK may go to it.
  bool handed_off() const { return sender && (state == WorkerState::kSent || state == WorkerState::kHandingOff); }
};

// What one message from the worker makes baton do.
enum class Reaction {
  kWelcome,        // HELLO: check it, send WELCOME with the listeners
  kFeatures,       // FEATURES: record them
  kAlive,          // PONG: its event loop answered a PING
  kUnhealthy,      // UNHEALTHY from a serving worker: tell the supervisor
  kClients,        // CLIENTS: record the count it reports (status)
  kStandingBy,     // STANDBY: record its state versions, tell the supervisor
  kReady,          // READY: tell the supervisor
  kPrecopied,      // PRECOPIED: tell the supervisor (the sender's pause begins)
  kSent,           // SENT: tell the supervisor
  kRestored,       // RESTORED: tell the supervisor
  kRefused,        // ERROR from a sender: it cannot hand off and keeps everything
  kParked,         // PARKED
  kCannotPark,     // ERROR after PARK: it is sent COMMIT instead
  kIgnored,        // a reply that no longer matters (`why` says which)
  kFailed,         // ERROR: it reports it cannot go on; reject it
  kProtocolError,  // anything else: reject it, `why` says what was wrong
};

struct Reply {
  Reaction reaction;
  Stage next;       // once the message's body has been read
  std::string why;  // kIgnored, kProtocolError
};

Reply on_message(const Stage& at, MessageType type);

// What the supervisor asks of a worker (WorkerHandle's commands).
enum class Command { kDrain, kTerminate, kCommit, kPark, kResume, kHandoffAsSender, kHandoffAsReceiver, kPing, kInherit };

// What follows a command's message, or comes instead of one.
enum class Escalation {
  kNone,
  kSigtermAfterGrace,  // the grace (DRAIN's or COMMIT's deadline) passed: SIGTERM, then SIGKILL
  kSigtermNow,         // SIGTERM now, SIGKILL after --kill-timeout
};

struct Order {
  std::optional<Command> first;  // carry this one out first, then decide again
  std::vector<MessageType> sends;  // in this order
  Stage next;
  Escalation escalation = Escalation::kNone;
  std::string refused;  // not possible where it stands (HANDOFF only): why
};

Order on_command(const Stage& at, Command command);

const char* command_name(Command c);

}  // namespace baton::worker_protocol
