// The supervisor's phase x event table (shared/DESIGN.md, "Phase x event"),
// checked cell by cell with fake workers, drain mode, two workers per
// generation. Each row puts a fresh supervisor in a phase, delivers one
// event, and checks the next phase and what was done. A new phase or event
// adds its row here and in DESIGN.md.
#include <gtest/gtest.h>

#include <csignal>
#include <functional>
#include <set>
#include <string>

#include "supervisor.h"
#include "support/fake_workers.h"

namespace baton {
namespace {

using testing_support::FakeLauncher;
using State = Supervisor::State;

enum class Phase { kStarting, kServing, kUpgrading, kStopping };
enum class Event {
  kAllReady,         // every worker of the newest generation says READY
  kServingExits,     // a worker of the serving generation exits (a crash)
  kNewExits,         // a worker of the generation not yet serving exits
  kUpgradeRequest,   // SIGHUP, `baton upgrade`
  kGracefulStop,     // SIGTERM, SIGINT, `baton stop`
  kFastStop,         // SIGQUIT, `baton stop --fast`
};

const char* name(Phase p) {
  switch (p) {
    case Phase::kStarting: return "Starting";
    case Phase::kServing: return "Serving";
    case Phase::kUpgrading: return "Upgrading";
    case Phase::kStopping: return "Stopping";
  }
  return "?";
}
const char* name(Event e) {
  switch (e) {
    case Event::kAllReady: return "AllReady";
    case Event::kServingExits: return "ServingExits";
    case Event::kNewExits: return "NewExits";
    case Event::kUpgradeRequest: return "UpgradeRequest";
    case Event::kGracefulStop: return "GracefulStop";
    case Event::kFastStop: return "FastStop";
  }
  return "?";
}

// One supervisor, put in a phase: generation 1 (and 2 while upgrading).
struct Bench {
  Bench() {
    uv_loop_init(&loop);
    options.command = {"/srv/app"};
    options.workers = 2;
  }
  ~Bench() {
    supervisor.reset();
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
  }
  void ready(std::uint64_t g) {
    for (std::uint32_t i = 0; i < options.workers; ++i) launcher.worker(g, i)->become_ready();
  }
  void enter(Phase p) {
    supervisor = std::make_unique<Supervisor>(&loop, options, launcher);
    ASSERT_TRUE(supervisor->start());
    if (p == Phase::kStarting) return;
    ready(1);
    if (p == Phase::kUpgrading) supervisor->handle_signal(SIGHUP);
    if (p == Phase::kStopping) supervisor->handle_signal(SIGTERM);
  }
  // The generation not yet serving: 1 while starting, 2 while upgrading.
  std::uint64_t newest() const { return supervisor->report().serving == 1 ? 2 : 1; }
  Supervisor::UpgradeRequest deliver(Event e) {
    switch (e) {
      case Event::kAllReady: ready(newest()); break;
      case Event::kServingExits: launcher.worker(1, 0)->exit(0, SIGSEGV); break;
      case Event::kNewExits: launcher.worker(newest(), 0)->exit(3); break;
      case Event::kUpgradeRequest: return supervisor->request_upgrade("the table test");
      case Event::kGracefulStop: supervisor->handle_signal(SIGTERM); break;
      case Event::kFastStop: supervisor->handle_signal(SIGQUIT); break;
    }
    return Supervisor::UpgradeRequest::kStarted;
  }
  int drains(std::uint64_t g) const { return count(g, &testing_support::FakeWorker::drains); }
  int terminates(std::uint64_t g) const { return count(g, &testing_support::FakeWorker::terminates); }
  int count(std::uint64_t g, int testing_support::FakeWorker::*field) const {
    int n = 0;
    for (std::uint32_t i = 0; i < options.workers; ++i)
      if (auto* w = const_cast<FakeLauncher&>(launcher).worker(g, i)) n += w->*field;
    return n;
  }

  uv_loop_t loop;
  Options options;
  FakeLauncher launcher;
  std::unique_ptr<Supervisor> supervisor;
};

struct Cell {
  Phase phase;
  Event event;
  State next;
  const char* action;  // as DESIGN.md's table says it
  std::function<void(Bench&, Supervisor::UpgradeRequest)> check;
};

const Cell kCells[] = {
    {Phase::kStarting, Event::kAllReady, State::kServing, "generation 1 serves",
     [](Bench& b, auto) { EXPECT_EQ(b.supervisor->report().serving, 1u); }},
    {Phase::kStarting, Event::kNewExits, State::kStopping, "stop with its exit status; SIGTERM the others",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(1), 1); }},
    {Phase::kStarting, Event::kUpgradeRequest, State::kStarting, "queued: runs once generation 1 serves",
     [](Bench& b, auto r) {
       EXPECT_EQ(r, Supervisor::UpgradeRequest::kQueued);
       EXPECT_TRUE(b.supervisor->report().upgrade_pending);
     }},
    {Phase::kStarting, Event::kGracefulStop, State::kStopping, "SIGTERM generation 1 (it never served)",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(1), 2); }},
    {Phase::kStarting, Event::kFastStop, State::kStopping, "SIGTERM generation 1",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(1), 2); }},

    {Phase::kServing, Event::kServingExits, State::kServing, "restart that slot after the backoff",
     [](Bench& b, auto) { EXPECT_EQ(b.supervisor->report().worker_restarts, 1u); }},
    {Phase::kServing, Event::kUpgradeRequest, State::kUpgrading, "start generation 2 beside generation 1",
     [](Bench& b, auto r) {
       EXPECT_EQ(r, Supervisor::UpgradeRequest::kStarted);
       EXPECT_EQ(b.launcher.live_count(), 4u);
     }},
    {Phase::kServing, Event::kGracefulStop, State::kStopping, "DRAIN generation 1",
     [](Bench& b, auto) { EXPECT_EQ(b.drains(1), 2); }},
    {Phase::kServing, Event::kFastStop, State::kStopping, "SIGTERM generation 1",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(1), 2); }},

    {Phase::kUpgrading, Event::kAllReady, State::kServing, "generation 2 serves; DRAIN generation 1",
     [](Bench& b, auto) {
       EXPECT_EQ(b.supervisor->report().serving, 2u);
       EXPECT_EQ(b.drains(1), 2);
     }},
    {Phase::kUpgrading, Event::kServingExits, State::kUpgrading, "restart that slot; the upgrade goes on",
     [](Bench& b, auto) { EXPECT_EQ(b.supervisor->report().worker_restarts, 1u); }},
    {Phase::kUpgrading, Event::kNewExits, State::kServing, "the upgrade fails; generation 1 untouched",
     [](Bench& b, auto) {
       EXPECT_EQ(b.supervisor->report().upgrades_failed, 1u);
       EXPECT_EQ(b.drains(1) + b.terminates(1), 0);
     }},
    {Phase::kUpgrading, Event::kUpgradeRequest, State::kUpgrading, "queued: one follow-up upgrade",
     [](Bench&, auto r) { EXPECT_EQ(r, Supervisor::UpgradeRequest::kQueued); }},
    {Phase::kUpgrading, Event::kGracefulStop, State::kStopping,
     "the upgrade fails; SIGTERM generation 2, DRAIN generation 1",
     [](Bench& b, auto) {
       EXPECT_EQ(b.supervisor->report().upgrades_failed, 1u);
       EXPECT_EQ(b.terminates(2), 2);
       EXPECT_EQ(b.drains(1), 2);
     }},
    {Phase::kUpgrading, Event::kFastStop, State::kStopping, "the upgrade fails; SIGTERM both generations",
     [](Bench& b, auto) {
       EXPECT_EQ(b.terminates(2), 2);
       EXPECT_EQ(b.terminates(1), 2);
     }},

    {Phase::kStopping, Event::kServingExits, State::kStopping, "not restarted; exit once every worker is gone",
     [](Bench& b, auto) { EXPECT_EQ(b.supervisor->report().worker_restarts, 0u); }},
    {Phase::kStopping, Event::kUpgradeRequest, State::kStopping, "refused",
     [](Bench&, auto r) { EXPECT_EQ(r, Supervisor::UpgradeRequest::kRefused); }},
    {Phase::kStopping, Event::kGracefulStop, State::kStopping, "a second stop: SIGTERM what still drains",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(1), 2); }},
    {Phase::kStopping, Event::kFastStop, State::kStopping, "SIGTERM what still drains",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(1), 2); }},
};

class PhaseEvent : public ::testing::TestWithParam<Cell> {};

TEST_P(PhaseEvent, GoesWhereTheTableSays) {
  const Cell& cell = GetParam();
  Bench b;
  b.enter(cell.phase);
  ASSERT_FALSE(HasFatalFailure());
  const auto answer = b.deliver(cell.event);
  EXPECT_EQ(b.supervisor->state(), cell.next) << cell.action;
  cell.check(b, answer);
}

INSTANTIATE_TEST_SUITE_P(Drain, PhaseEvent, ::testing::ValuesIn(kCells), [](const auto& info) {
  return std::string(name(info.param.phase)) + "_" + name(info.param.event);
});

// Cells left out of kCells cannot happen: nothing is "newest" while serving
// or stopping (an upgrade makes one), and nothing serves yet while starting.
TEST(PhaseEventTable, CoversEveryPossibleCell) {
  std::set<std::pair<Phase, Event>> seen;
  for (const Cell& c : kCells) {
    EXPECT_TRUE(seen.insert({c.phase, c.event}).second) << "twice: " << name(c.phase) << " x " << name(c.event);
    const bool impossible = (c.event == Event::kAllReady || c.event == Event::kNewExits)
                                ? (c.phase == Phase::kServing || c.phase == Phase::kStopping)
                                : (c.event == Event::kServingExits && c.phase == Phase::kStarting);
    EXPECT_FALSE(impossible) << name(c.phase) << " x " << name(c.event);
  }
  EXPECT_EQ(seen.size(), 4u * 6u - 5u) << "every possible phase x event pair has its row";
}

}  // namespace
}  // namespace baton
