// The worker protocol as baton keeps it (supervisor/process/worker_protocol.h),
// without a process: what each message from a worker means where it stands,
// and that every message baton sends, by any command from any stage, is one
// shared/PROTOCOL.md's table "Which messages a worker may receive, by where it
// stands" allows there, and that each message the table allows is one baton
// does send from there. The table is read from PROTOCOL.md itself, so the
// document and the code cannot drift apart unnoticed.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "worker_protocol.h"

namespace baton::worker_protocol {
namespace {

using S = WorkerState;
using T = MessageType;

std::string type_name(T t) { return message_type_name(static_cast<std::uint16_t>(t)); }

Stage at(S state, bool sender = false, bool standby = false) {
  Stage s;
  s.state = state;
  s.sender = sender;
  s.standby = standby;
  return s;
}

// ---- messages from a worker ------------------------------------------------

struct MessageRow {
  const char* where;
  Stage stage;
  T type;
  Reaction reaction;
  S next;
  const char* why = "";  // a part of the protocol error's text
};

const MessageRow kMessages[] = {
    {"spawned", at(S::kStarting), T::kHello, Reaction::kWelcome, S::kWelcomed},
    {"spawned", at(S::kStarting), T::kReady, Reaction::kProtocolError, S::kStarting, "first message must be HELLO"},
    {"spawned", at(S::kStarting), T::kError, Reaction::kFailed, S::kStarting},
    {"welcomed", at(S::kWelcomed), T::kReady, Reaction::kReady, S::kReady},
    {"welcomed", at(S::kWelcomed), T::kFeatures, Reaction::kFeatures, S::kWelcomed},
    {"welcomed", at(S::kWelcomed), T::kStandby, Reaction::kProtocolError, S::kWelcomed, "expected READY, got STANDBY"},
    {"welcomed", at(S::kWelcomed), T::kError, Reaction::kFailed, S::kWelcomed},
    {"welcomed to stand by", at(S::kWelcomed, false, true), T::kStandby, Reaction::kStandingBy, S::kStandby},
    {"welcomed to stand by", at(S::kWelcomed, false, true), T::kReady, Reaction::kProtocolError, S::kWelcomed,
     "should say STANDBY"},
    {"standing by", at(S::kStandby), T::kReady, Reaction::kProtocolError, S::kStandby, "unexpected READY"},
    {"sending", at(S::kHandingOff, true), T::kPrecopied, Reaction::kPrecopied, S::kHandingOff},
    {"sending", at(S::kHandingOff, true), T::kSent, Reaction::kSent, S::kSent},
    {"sending", at(S::kHandingOff, true), T::kError, Reaction::kRefused, S::kHandingOff},
    {"sending", at(S::kHandingOff, true), T::kRestored, Reaction::kProtocolError, S::kHandingOff, "expected SENT"},
    {"receiving", at(S::kHandingOff), T::kRestored, Reaction::kRestored, S::kRestored},
    {"receiving", at(S::kHandingOff), T::kError, Reaction::kFailed, S::kHandingOff},
    {"receiving", at(S::kHandingOff), T::kSent, Reaction::kProtocolError, S::kHandingOff, "expected RESTORED"},
    {"parking", at(S::kParking, true), T::kParked, Reaction::kParked, S::kParked},
    {"parking", at(S::kParking, true), T::kError, Reaction::kCannotPark, S::kSent},
    {"parking", at(S::kParking, true), T::kReady, Reaction::kProtocolError, S::kParking, "PARKED or ERROR expected"},
    {"serving", at(S::kReady), T::kReady, Reaction::kProtocolError, S::kReady, "unexpected READY (ready)"},
    {"serving", at(S::kReady), T::kPrecopied, Reaction::kIgnored, S::kReady},
    {"serving", at(S::kReady), T::kUnhealthy, Reaction::kUnhealthy, S::kReady},
    {"draining", at(S::kDraining), T::kUnhealthy, Reaction::kIgnored, S::kDraining},
    {"draining", at(S::kDraining), T::kClients, Reaction::kClients, S::kDraining},
    {"parked", at(S::kParked), T::kClients, Reaction::kClients, S::kParked},
    {"before HELLO", at(S::kStarting), T::kClients, Reaction::kProtocolError, S::kStarting},
    {"draining", at(S::kDraining), T::kHello, Reaction::kProtocolError, S::kDraining, "unexpected HELLO"},
};

TEST(WorkerProtocolMessages, EachMeansWhatTheProtocolSays) {
  for (const MessageRow& row : kMessages) {
    const Reply r = on_message(row.stage, row.type);
    SCOPED_TRACE(std::string(row.where) + " + " + type_name(row.type));
    EXPECT_EQ(r.reaction, row.reaction);
    EXPECT_EQ(r.next.state, row.next);
    EXPECT_NE(r.why.find(row.why), std::string::npos) << r.why;
  }
}

TEST(WorkerProtocolMessages, FeaturesComeOnce) {
  const Reply first = on_message(at(S::kWelcomed), T::kFeatures);
  ASSERT_TRUE(first.next.features_said);
  const Reply second = on_message(first.next, T::kFeatures);
  EXPECT_EQ(second.reaction, Reaction::kProtocolError);
  EXPECT_NE(second.why.find("FEATURES twice"), std::string::npos);
}

// PONG is news from any stage (a DRAIN may cross the PING), but only from a
// worker that said it answers; PING goes only to such a worker, and only while it serves.
TEST(WorkerProtocolMessages, HeartbeatOnlyWithAWorkerThatSaidItAnswers) {
  Stage serving = at(S::kReady);
  EXPECT_EQ(on_message(serving, T::kPong).reaction, Reaction::kProtocolError);
  EXPECT_TRUE(on_command(serving, Command::kPing).sends.empty()) << "never asked: it would not know PING";
  serving.heartbeat = true;
  EXPECT_EQ(on_command(serving, Command::kPing).sends, std::vector<T>{T::kPing});
  for (S s : {S::kReady, S::kDraining, S::kHandingOff, S::kParked}) {
    Stage st = at(s, true);
    st.heartbeat = true;
    const Reply r = on_message(st, T::kPong);
    EXPECT_EQ(r.reaction, Reaction::kAlive) << state_name(s);
    EXPECT_EQ(r.next, st) << state_name(s);
    if (s != S::kReady) {
      EXPECT_TRUE(on_command(st, Command::kPing).sends.empty()) << state_name(s) << " is not judged";
    }
  }
}

// A hung worker's clients go only to a serving worker that said it serves
// them; one that did not, or does not serve yet, is sent nothing.
TEST(WorkerProtocolCommands, InheritGoesOnlyToAServingWorkerThatSaidItServesThem) {
  Stage serving = at(S::kReady);
  EXPECT_TRUE(on_command(serving, Command::kInherit).sends.empty()) << "it would not know INHERIT";
  serving.serves_inherited = true;
  const Order o = on_command(serving, Command::kInherit);
  EXPECT_EQ(o.sends, std::vector<T>{T::kInherit});
  EXPECT_EQ(o.next, serving);
  for (S s : {S::kWelcomed, S::kStandby, S::kRestored, S::kDraining, S::kParked}) {
    Stage st = at(s);
    st.serves_inherited = true;
    EXPECT_TRUE(on_command(st, Command::kInherit).sends.empty()) << state_name(s);
  }
}

// A reply that crossed a RESUME is counted when the RESUME goes, and dropped
// when it arrives; the next one is news again.
TEST(WorkerProtocolMessages, AReplyThatCrossedAResumeIsIgnoredOnce) {
  const Order resume = on_command(at(S::kHandingOff, true), Command::kResume);
  ASSERT_EQ(resume.next.state, S::kReady);
  ASSERT_EQ(resume.next.late_replies, 1u);
  const Reply late = on_message(resume.next, T::kSent);
  EXPECT_EQ(late.reaction, Reaction::kIgnored);
  EXPECT_EQ(late.next.late_replies, 0u);
  EXPECT_EQ(on_message(late.next, T::kSent).reaction, Reaction::kProtocolError);
}

// Only baton moves a worker out of these: nothing the worker says can.
TEST(WorkerProtocolMessages, NoMessageMovesAWorkerThatWaitsForBaton) {
  for (S s : {S::kStandby, S::kSent, S::kRestored, S::kParked, S::kReady, S::kDraining})
    for (int t = 1; t <= static_cast<int>(T::kUnhealthy); ++t) {
      const Reply r = on_message(at(s, s == S::kSent || s == S::kParked), static_cast<T>(t));
      EXPECT_EQ(r.next.state, s) << state_name(s) << " + " << type_name(static_cast<T>(t));
      // News that changes nothing of its stage (UNHEALTHY) is told to the supervisor, which decides.
      EXPECT_TRUE(r.reaction == Reaction::kIgnored || r.reaction == Reaction::kProtocolError ||
                  r.reaction == Reaction::kFailed || r.reaction == Reaction::kUnhealthy)
          << state_name(s) << " + " << type_name(static_cast<T>(t));
    }
}

// ---- commands, and PROTOCOL.md's table -------------------------------------

// PROTOCOL.md's table: each row's first cell, and the messages of its second.
std::map<std::string, std::set<std::string>> protocol_table() {
  std::ifstream in(std::string(BATON_SOURCE_DIR) + "/shared/PROTOCOL.md");
  const std::set<std::string> sent_by_baton{"WELCOME", "DRAIN", "HANDOFF", "FEATURES", "COMMIT", "RESUME", "PARK", "PING",
                                           "INHERIT"};
  std::map<std::string, std::set<std::string>> rows;
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    if (!inside) {
      inside = line.rfind("| worker's stage | baton may send |", 0) == 0;
      continue;
    }
    if (line.rfind("|---", 0) == 0) continue;
    if (line.rfind("| ", 0) != 0) break;  // the table's end
    std::vector<std::string> cells;
    std::stringstream cols(line.substr(2));
    for (std::string cell; std::getline(cols, cell, '|');) cells.push_back(cell);
    std::set<std::string>& may = rows[cells.at(0).substr(0, cells.at(0).find_last_not_of(' ') + 1)];
    std::stringstream words(cells.at(1));
    for (std::string w; words >> w;) {
      const auto first = w.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), last = w.find_last_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ");
      if (first != std::string::npos && sent_by_baton.count(w.substr(first, last - first + 1)))
        may.insert(w.substr(first, last - first + 1));
    }
  }
  return rows;
}

// The rows of the table that describe a worker at `s` (the first words of their first cell).
std::vector<std::string> rows_of(const Stage& s) {
  switch (s.state) {
    case S::kStarting: return {"after HELLO"};
    case S::kWelcomed: return {s.standby ? "standing by" : "WELCOME without STANDBY"};
    case S::kStandby: return {"standing by"};
    case S::kHandingOff: return {s.sender ? "sending" : "receiving"};
    case S::kSent: return {"sending"};
    case S::kRestored: return {"receiving"};
    case S::kReady: return {"serving", "WELCOME without STANDBY"};
    case S::kParking:  // PARK sent, PARKED not yet: nothing but COMMIT can follow
    case S::kParked: return {"parked"};
    case S::kDraining:
    case S::kExited: return {"after COMMIT"};
  }
  return {};
}

// Every stage a worker can be at, as the protocol reaches it.
std::vector<Stage> every_stage() {
  std::vector<Stage> all;
  for (S s : {S::kStarting, S::kWelcomed, S::kStandby, S::kHandingOff, S::kSent, S::kRestored, S::kParking,
              S::kParked, S::kReady, S::kDraining, S::kExited})
    for (bool sender : {false, true})
      for (bool standby : {false, true})
        for (bool features : {false, true})
          for (bool said : {false, true}) {
            if (said && !features) continue;  // it says these in FEATURES
            Stage st = at(s, sender, standby);
            st.features_said = features;
            st.heartbeat = st.serves_inherited = said;
            all.push_back(st);
          }
  return all;
}

struct Sent {
  Stage from;
  std::string message;
};

// Carries `c` out as WorkerProcess does: its `first`, then it again.
Stage carry_out(const Stage& from, Command c, std::vector<Sent>& sent) {
  Order o = on_command(from, c);
  Stage now = from;
  if (o.first) {
    now = carry_out(now, *o.first, sent);
    o = on_command(now, c);
    EXPECT_FALSE(o.first) << command_name(c) << " asks for a second command first";
  }
  for (T t : o.sends) sent.push_back({now, type_name(t)});
  return o.refused.empty() ? o.next : now;
}

TEST(WorkerProtocolCommands, EveryMessageBatonSendsIsOneTheProtocolTableAllowsThere) {
  const auto table = protocol_table();
  ASSERT_EQ(table.size(), 8u) << "PROTOCOL.md's table of what a worker may receive has changed: update rows_of()";
  auto row = [&](const std::string& prefix) -> const std::set<std::string>& {
    for (const auto& [name, may] : table)
      if (name.rfind(prefix, 0) == 0) return may;
    ADD_FAILURE() << "PROTOCOL.md has no row \"" << prefix << "...\"";
    static const std::set<std::string> none;
    return none;
  };
  std::map<std::string, std::set<std::string>> used;  // row -> what baton sent there
  // WELCOME is the answer to HELLO, not a command.
  EXPECT_EQ(on_message(at(S::kStarting), T::kHello).reaction, Reaction::kWelcome);
  used["after HELLO"].insert("WELCOME");
  for (const Stage& stage : every_stage())
    for (int c = 0; c <= static_cast<int>(Command::kInherit); ++c) {
      std::vector<Sent> sent;
      carry_out(stage, static_cast<Command>(c), sent);
      for (const Sent& s : sent) {
        bool allowed = false;
        for (const std::string& r : rows_of(s.from)) {
          allowed = allowed || row(r).count(s.message);
          if (row(r).count(s.message)) used[r].insert(s.message);
        }
        EXPECT_TRUE(allowed) << command_name(static_cast<Command>(c)) << " sends " << s.message << " to a worker "
                             << state_name(s.from.state) << (s.from.sender ? " (sender)" : "");
      }
    }
  for (const auto& [name, may] : table) {
    std::set<std::string> sent;
    for (const auto& [prefix, what] : used)
      if (name.rfind(prefix, 0) == 0) sent = what;
    EXPECT_EQ(sent, may) << "PROTOCOL.md row \"" << name << "\": what baton sends there";
  }
}

// The escalation each command sets off: DRAIN and an old worker's COMMIT
// give a grace, a stop's SIGTERM does not; a new worker's COMMIT needs none.
TEST(WorkerProtocolCommands, EscalationsFollowTheMessage) {
  EXPECT_EQ(on_command(at(S::kReady), Command::kDrain).escalation, Escalation::kSigtermAfterGrace);
  EXPECT_EQ(on_command(at(S::kSent, true), Command::kCommit).escalation, Escalation::kSigtermAfterGrace);
  EXPECT_EQ(on_command(at(S::kRestored), Command::kCommit).escalation, Escalation::kNone);
  EXPECT_EQ(on_command(at(S::kRestored), Command::kCommit).next.state, S::kReady);
  EXPECT_EQ(on_command(at(S::kStandby), Command::kTerminate).escalation, Escalation::kSigtermNow);
  EXPECT_EQ(on_command(at(S::kExited), Command::kTerminate).escalation, Escalation::kNone);
}

// A stop never sends DRAIN to a worker in a handoff: RESUME first, then DRAIN;
// a parked one is sent COMMIT; one standing by gets SIGTERM.
TEST(WorkerProtocolCommands, DrainGoesThroughWhatTheStageNeedsFirst) {
  EXPECT_EQ(on_command(at(S::kHandingOff, true), Command::kDrain).first, Command::kResume);
  EXPECT_EQ(on_command(at(S::kParked, true), Command::kDrain).first, Command::kCommit);
  EXPECT_EQ(on_command(at(S::kStandby), Command::kDrain).first, Command::kTerminate);
  std::vector<Sent> sent;
  const Stage end = carry_out(at(S::kHandingOff, true), Command::kDrain, sent);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].message, "RESUME");
  EXPECT_EQ(sent[1].message, "DRAIN");
  EXPECT_EQ(end.state, S::kDraining);
  EXPECT_EQ(end.late_replies, 1u) << "its SENT or ERROR may still cross the RESUME";
}

TEST(WorkerProtocolCommands, HandoffOnlyFromServingOrStandingBy) {
  EXPECT_FALSE(on_command(at(S::kWelcomed), Command::kHandoffAsSender).refused.empty());
  EXPECT_FALSE(on_command(at(S::kReady), Command::kHandoffAsReceiver).refused.empty());
  Stage old = at(S::kReady);
  old.features_said = true;
  const Order o = on_command(old, Command::kHandoffAsSender);
  EXPECT_EQ(o.sends, (std::vector<T>{T::kFeatures, T::kHandoff}));
  EXPECT_TRUE(o.next.sender);
  EXPECT_EQ(on_command(at(S::kReady), Command::kHandoffAsSender).sends, std::vector<T>{T::kHandoff});
}

}  // namespace
}  // namespace baton::worker_protocol
