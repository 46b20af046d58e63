#include "worker_protocol.h"

namespace baton::worker_protocol {
namespace {

using S = WorkerState;
using T = MessageType;

std::string type_name(T t) { return message_type_name(static_cast<std::uint16_t>(t)); }

Reply to(Reaction r, Stage next) { return {r, next, ""}; }
Reply with_state(Reaction r, Stage at, S state) {
  at.state = state;
  return {r, at, ""};
}
Reply protocol_error(const Stage& at, std::string why) { return {Reaction::kProtocolError, at, std::move(why)}; }
// The wording of Envelope::as<M>() for a message of another type.
Reply expected(const Stage& at, T want, T got) {
  return protocol_error(at, "protocol error: expected " + type_name(want) + ", got " + type_name(got));
}

// HANDOFF taken: a sender says PRECOPIED (maybe), then SENT; a receiver RESTORED; either may say ERROR.
Reply handing_off(const Stage& at, T type) {
  if (type == T::kError) return to(at.sender ? Reaction::kRefused : Reaction::kFailed, at);
  if (!at.sender) return type == T::kRestored ? with_state(Reaction::kRestored, at, S::kRestored)
                                              : expected(at, T::kRestored, type);
  if (type == T::kPrecopied) return to(Reaction::kPrecopied, at);
  return type == T::kSent ? with_state(Reaction::kSent, at, S::kSent) : expected(at, T::kSent, type);
}

// PARK sent: PARKED, or ERROR (it cannot park: answered, so COMMIT expects no further reply).
Reply parking(const Stage& at, T type) {
  if (type == T::kParked) return with_state(Reaction::kParked, at, S::kParked);
  if (type == T::kError) return with_state(Reaction::kCannotPark, at, S::kSent);
  return protocol_error(at, "protocol error: expected ERROR, got " + type_name(type) +
                                " (PARKED or ERROR expected after PARK)");
}

// WELCOME sent: READY, or in a handoff upgrade STANDBY; FEATURES may come first, once.
Reply welcomed(const Stage& at, T type) {
  if (type == T::kFeatures) {
    if (at.features_said)
      return protocol_error(at, "protocol error: FEATURES twice (it comes once, before READY or STANDBY)");
    Stage next = at;
    next.features_said = true;
    return to(Reaction::kFeatures, next);
  }
  if (!at.standby) return type == T::kReady ? with_state(Reaction::kReady, at, S::kReady) : expected(at, T::kReady, type);
  if (type == T::kReady)
    return protocol_error(at, "said READY, but this is a handoff upgrade and it should say STANDBY; "
                              "it does not support handoff mode (run baton with --mode drain)");
  return type == T::kStandby ? with_state(Reaction::kStandingBy, at, S::kStandby) : expected(at, T::kStandby, type);
}

bool is_handoff_reply(T t) { return t == T::kError || t == T::kSent || t == T::kRestored || t == T::kParked; }

}  // namespace

Reply on_message(const Stage& at, MessageType type) {
  // A PING sent while serving may be answered after the worker moved on (a DRAIN crossed it).
  if (type == T::kPong)
    return at.heartbeat ? to(Reaction::kAlive, at)
                        : protocol_error(at, "protocol error: PONG from a worker that never said FEATURES with "
                                             "ANSWERS_PING");
  // A count is news from any stage after HELLO (it is sent once a worker is told to go).
  if (type == T::kClients && at.state != S::kStarting) return to(Reaction::kClients, at);
  // Only a serving worker's health is news; one that crossed a DRAIN or HANDOFF says nothing any more.
  if (type == T::kUnhealthy)
    return at.state == S::kReady ? to(Reaction::kUnhealthy, at)
                                 : Reply{Reaction::kIgnored, at, "UNHEALTHY arrived while not serving"};
  if (is_handoff_reply(type) && at.late_replies > 0) {
    Stage next = at;
    --next.late_replies;
    return {Reaction::kIgnored, next, type_name(type) + " arrived after the handoff was called off"};
  }
  // Only news (the pause starts): one that crossed a RESUME or a stop says nothing any more.
  if (type == T::kPrecopied && at.state != S::kHandingOff)
    return {Reaction::kIgnored, at, "PRECOPIED arrived after the handoff was called off"};
  if (at.state == S::kHandingOff) return handing_off(at, type);
  if (at.state == S::kParking) return parking(at, type);
  if (type == T::kError) return to(Reaction::kFailed, at);
  if (at.state == S::kStarting)
    return type == T::kHello ? with_state(Reaction::kWelcome, at, S::kWelcomed)
                             : protocol_error(at, "protocol error: expected HELLO, got " + type_name(type) +
                                                      " (first message must be HELLO)");
  if (at.state == S::kWelcomed) return welcomed(at, type);
  return protocol_error(at, "protocol error: unexpected " + type_name(type) + " (" + state_name(at.state) + ")");
}

namespace {

// Leaving `at`: a reply it may still send from there no longer matters.
Stage leaving(const Stage& at, S state) {
  Stage next = at;
  if (at.state == S::kHandingOff || at.state == S::kParking) ++next.late_replies;
  next.state = state;
  return next;
}

Order nothing(const Stage& at) { return {.next = at}; }
Order first(const Stage& at, Command c) { return {.first = c, .next = at}; }

Order drain(const Stage& at) {
  if (at.state == S::kExited || at.state == S::kDraining) return nothing(at);
  // A parked worker serves nothing: it has nothing to drain.
  if (at.state == S::kParking || at.state == S::kParked) return first(at, Command::kCommit);
  // An old worker in the middle of a handoff serves again first: a DRAIN never comes during one.
  if (at.handed_off()) return first(at, Command::kResume);
  // Not serving (starting, standing by, receiving): nothing to finish.
  if (at.state != S::kReady) return first(at, Command::kTerminate);
  return {.sends = {T::kDrain}, .next = leaving(at, S::kDraining), .escalation = Escalation::kSigtermAfterGrace};
}

Order commit(const Stage& at) {
  // An old worker's SENT may still be on its way: its successor's RESTORED
  // already proves that everything arrived.
  const bool old = at.handed_off() || at.state == S::kParking || at.state == S::kParked;
  if (at.state != S::kRestored && !old) return nothing(at);
  if (!old) return {.sends = {T::kCommit}, .next = leaving(at, S::kReady)};
  // The old worker exits on COMMIT; the deadline only catches one that does not.
  return {.sends = {T::kCommit}, .next = leaving(at, S::kDraining), .escalation = Escalation::kSigtermAfterGrace};
}

Order handoff(const Stage& at, bool sender) {
  const S expected = sender ? S::kReady : S::kStandby;
  if (at.state != expected) return {.next = at, .refused = std::string("cannot take HANDOFF while ") + state_name(at.state)};
  Order o{.next = at};
  // Only a worker that said FEATURES itself hears one (an older one would not know the type).
  if (sender && at.features_said) o.sends.push_back(T::kFeatures);
  o.sends.push_back(T::kHandoff);
  o.next.state = S::kHandingOff;
  o.next.sender = sender;
  o.next.late_replies = 0;
  return o;
}

}  // namespace

Order on_command(const Stage& at, Command command) {
  switch (command) {
    case Command::kDrain: return drain(at);
    case Command::kTerminate:
      if (at.state == S::kExited) return nothing(at);
      return {.next = leaving(at, S::kDraining), .escalation = Escalation::kSigtermNow};
    case Command::kCommit: return commit(at);
    case Command::kPark:
      if (!at.handed_off()) return nothing(at);
      return {.sends = {T::kPark}, .next = leaving(at, S::kParking)};
    case Command::kResume:
      // Also ends a park: the rollback of a successor on probation, even one
      // that comes before PARKED (it parks, then reads RESUME; PARKED crosses it).
      if (!at.handed_off() && at.state != S::kParked && at.state != S::kParking) return nothing(at);
      return {.sends = {T::kResume}, .next = leaving(at, S::kReady)};
    case Command::kHandoffAsSender: return handoff(at, true);
    case Command::kHandoffAsReceiver: return handoff(at, false);
    case Command::kPing:
      // Only a serving worker is asked, and only one that said it answers.
      if (at.state != S::kReady || !at.heartbeat) return nothing(at);
      return {.sends = {T::kPing}, .next = at};
    case Command::kInherit:
      // A hung predecessor's clients go to a serving worker that said it serves them.
      if (at.state != S::kReady || !at.serves_inherited) return nothing(at);
      return {.sends = {T::kInherit}, .next = at};
  }
  return nothing(at);
}

const char* command_name(Command c) {
  switch (c) {
    case Command::kDrain: return "drain";
    case Command::kTerminate: return "terminate";
    case Command::kCommit: return "commit";
    case Command::kPark: return "park";
    case Command::kResume: return "resume";
    case Command::kHandoffAsSender: return "handoff (sender)";
    case Command::kHandoffAsReceiver: return "handoff (receiver)";
    case Command::kPing: return "ping";
    case Command::kInherit: return "inherit";
  }
  return "?";
}

}  // namespace baton::worker_protocol
