// The supervisor's phase x event table (shared/DESIGN.md, "Phase x event"),
// checked cell by cell with fake workers, in both upgrade modes, two workers
// per generation. Each row puts a fresh supervisor in a phase, delivers one
// event, and checks the next phase and what was done. A new phase or event
// adds its row here and in DESIGN.md.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <functional>
#include <set>
#include <tuple>
#include <string>

#include "supervisor.h"
#include "support/fake_workers.h"

namespace baton {
namespace {

using testing_support::FakeLauncher;
using testing_support::FakeWorker;
using State = Supervisor::State;

enum class Phase {
  kStarting,
  kServing,
  kOnProbation,  // serving, the upgrade before on --probation (its predecessor drains, or is parked)
  kUpgrading,    // the candidate starts (handoff mode: before every new worker stands by)
  kHandingOff,   // handoff mode: HANDOFF sent, waiting for every RESTORED
  kStopping,
  kRolling,      // --rolling 1: slot 0 replaced (2.0 serves), batch 2 started (2.1 starting, 1.1 serving)
};
enum class Event {
  kNewStarted,       // every new worker says READY (STANDBY: a handoff candidate)
  kAllRestored,      // every new worker says RESTORED
  kOldRefuses,       // an old worker answers HANDOFF with ERROR
  kDeadline,         // the phase's timer fires: --handoff-timeout, the end of --probation
  kServingExits,     // a worker of the serving generation exits (a crash)
  kServingUnhealthy, // a worker of the serving generation says UNHEALTHY
  kCheckFails,       // --probation-check finds the serving generation unhealthy
  kNewExits,         // a worker of the generation not yet serving exits
  kUpgradeRequest,   // SIGHUP, `baton upgrade`
  kGracefulStop,     // SIGTERM, SIGINT, `baton stop`
  kFastStop,         // SIGQUIT, `baton stop --fast`
};
constexpr int kPhases = 7, kEvents = 11;

const char* name(Phase p) {
  switch (p) {
    case Phase::kStarting: return "Starting";
    case Phase::kServing: return "Serving";
    case Phase::kOnProbation: return "OnProbation";
    case Phase::kUpgrading: return "Upgrading";
    case Phase::kHandingOff: return "HandingOff";
    case Phase::kStopping: return "Stopping";
    case Phase::kRolling: return "Rolling";
  }
  return "?";
}
const char* name(Event e) {
  switch (e) {
    case Event::kNewStarted: return "NewStarted";
    case Event::kAllRestored: return "AllRestored";
    case Event::kOldRefuses: return "OldRefuses";
    case Event::kDeadline: return "Deadline";
    case Event::kServingExits: return "ServingExits";
    case Event::kServingUnhealthy: return "ServingUnhealthy";
    case Event::kCheckFails: return "CheckFails";
    case Event::kNewExits: return "NewExits";
    case Event::kUpgradeRequest: return "UpgradeRequest";
    case Event::kGracefulStop: return "GracefulStop";
    case Event::kFastStop: return "FastStop";
  }
  return "?";
}
const char* name(UpgradeMode m) { return m == UpgradeMode::kHandoff ? "Handoff" : "Drain"; }

// Which cells can happen at all; the others are "--" in DESIGN.md.
bool possible(UpgradeMode mode, Phase p, Event e) {
  const bool handoff = mode == UpgradeMode::kHandoff;
  if (p == Phase::kHandingOff && !handoff) return false;
  const bool has_new =
      p == Phase::kStarting || p == Phase::kUpgrading || p == Phase::kHandingOff || p == Phase::kRolling;
  switch (e) {
    case Event::kNewStarted: return p == Phase::kStarting || p == Phase::kUpgrading || p == Phase::kRolling;
    case Event::kAllRestored:
    case Event::kOldRefuses: return p == Phase::kHandingOff;
    case Event::kDeadline: return p == Phase::kHandingOff || p == Phase::kOnProbation || p == Phase::kRolling;
    case Event::kServingExits:
    case Event::kServingUnhealthy:
    case Event::kCheckFails: return p != Phase::kStarting;
    case Event::kNewExits: return has_new;
    default: return true;
  }
}

// One supervisor, two workers per generation, put in a phase: generation 1,
// and 2 when upgrading or on probation.
struct Bench {
  Bench(UpgradeMode mode, bool short_deadlines) {
    uv_loop_init(&loop);
    options.command = {"/srv/app"};
    options.workers = 2;
    options.mode = mode;
    // Long enough never to fire by themselves, unless the cell is about them.
    options.handoff_timeout = short_deadlines ? std::chrono::milliseconds(1) : std::chrono::hours(1);
    options.ready_timeout = options.handoff_timeout;  // a rolling batch's deadline is both
  }
  ~Bench() {
    supervisor.reset();
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
  }
  template <class F> void each(std::uint64_t g, F&& f) {
    for (std::uint32_t i = 0; i < options.workers; ++i)
      if (FakeWorker* w = launcher.worker(g, i)) f(*w);
  }
  void ready(std::uint64_t g) { each(g, [](FakeWorker& w) { w.become_ready(); }); }
  void stand_by(std::uint64_t g) { each(g, [](FakeWorker& w) { w.stand_by({1}); }); }
  void restored(std::uint64_t g) { each(g, [](FakeWorker& w) { w.restored(); }); }
  void enter(Phase p, std::chrono::milliseconds probation) {
    if (p == Phase::kOnProbation) options.probation = probation;
    if (p == Phase::kRolling) options.rolling = 1;
    supervisor = std::make_unique<Supervisor>(&loop, options, launcher);
    ASSERT_TRUE(supervisor->start());
    if (p == Phase::kStarting) return;
    ready(1);
    if (p == Phase::kRolling) return enter_batch_two();
    if (p == Phase::kStopping) supervisor->handle_signal(SIGTERM);
    if (p == Phase::kServing || p == Phase::kStopping) return;
    supervisor->handle_signal(SIGHUP);
    if (p == Phase::kUpgrading) return;
    if (options.mode == UpgradeMode::kDrain) return ready(2);  // on probation
    stand_by(2);
    if (p == Phase::kOnProbation) restored(2);
  }
  // Batch 1 replaces slot 0; its old worker exits, and batch 2 starts 2.1.
  void enter_batch_two() {
    supervisor->handle_signal(SIGHUP);
    FakeWorker& first = *launcher.worker(2, 0);
    if (options.mode == UpgradeMode::kDrain) {
      first.become_ready();
    } else {
      first.stand_by({1});
      first.restored();
      launcher.worker(1, 0)->sent();
    }
    launcher.worker(1, 0)->exit();
    ASSERT_NE(launcher.worker(2, 1), nullptr) << "batch 2 started";
  }
  // The first live worker of generation g.
  FakeWorker* first_live(std::uint64_t g) {
    for (std::uint32_t i = 0; i < options.workers; ++i)
      if (FakeWorker* w = launcher.worker(g, i)) return w;
    return nullptr;
  }
  // The generation not yet serving, if any: 1 while starting, 2 while upgrading.
  std::uint64_t newest() const { return supervisor->report().serving == 1 ? 2 : 1; }
  // The generation that serves, or served until the stop.
  std::uint64_t serving() const { return std::max<std::uint64_t>(supervisor->report().serving, 1); }
  Supervisor::UpgradeRequest deliver(Event e) {
    const bool handoff = options.mode == UpgradeMode::kHandoff;
    switch (e) {
      case Event::kNewStarted:
        if (options.rolling > 0) {  // batch 2's new worker; 2.0 serves already
          FakeWorker& w = *launcher.worker(2, 1);
          handoff ? w.stand_by({1}) : w.become_ready();
          break;
        }
        if (handoff && newest() == 2) stand_by(2);
        else ready(newest());
        break;
      case Event::kAllRestored: restored(2); break;
      case Event::kOldRefuses: launcher.worker(1, 0)->refuse("state version 9 unknown"); break;
      case Event::kDeadline: return wait_for_deadline();
      case Event::kServingExits: first_live(serving())->exit(0, SIGSEGV); break;
      case Event::kServingUnhealthy: first_live(serving())->report_unhealthy("its database is gone"); break;
      case Event::kCheckFails: supervisor->report_unhealthy(serving(), "its health check failed"); break;
      case Event::kNewExits: launcher.worker(newest(), 0)->exit(3); break;
      case Event::kUpgradeRequest: return supervisor->request_upgrade("the table test");
      case Event::kGracefulStop: supervisor->handle_signal(SIGTERM); break;
      case Event::kFastStop: supervisor->handle_signal(SIGQUIT); break;
    }
    return Supervisor::UpgradeRequest::kStarted;
  }
  // Runs the loop until the phase's timer has fired and changed something.
  Supervisor::UpgradeRequest wait_for_deadline() {
    auto phase = [&] {
      const auto r = supervisor->report();
      const bool failed = r.last_upgrade && r.last_upgrade->rolling && r.last_upgrade->rolling->failed_batch > 0;
      return std::tuple{supervisor->state(), r.probation.has_value(), failed};
    };
    const auto before = phase();
    // NOWAIT: a ONCE run that fires the timer would then block in poll for
    // as long as nothing else is due (the signal handles keep the loop alive).
    const auto bound = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (phase() == before && std::chrono::steady_clock::now() < bound) uv_run(&loop, UV_RUN_NOWAIT);
    return Supervisor::UpgradeRequest::kStarted;
  }
  int count(std::uint64_t g, int FakeWorker::*field) {
    int n = 0;
    each(g, [&](FakeWorker& w) { n += w.*field; });
    return n;
  }
  int drains(std::uint64_t g) { return count(g, &FakeWorker::drains); }
  int terminates(std::uint64_t g) { return count(g, &FakeWorker::terminates); }
  int commits(std::uint64_t g) { return count(g, &FakeWorker::commits); }
  int resumes(std::uint64_t g) { return count(g, &FakeWorker::resumes); }
  int parks(std::uint64_t g) { return count(g, &FakeWorker::parks); }
  SupervisorReport report() const { return supervisor->report(); }

  uv_loop_t loop;
  Options options;
  FakeLauncher launcher;
  std::unique_ptr<Supervisor> supervisor;
};

struct Cell {
  UpgradeMode mode;
  Phase phase;
  Event event;
  State next;
  const char* action;  // as DESIGN.md's table says it
  std::function<void(Bench&, Supervisor::UpgradeRequest)> check;
};

constexpr auto kDrain = UpgradeMode::kDrain;
constexpr auto kHandoff = UpgradeMode::kHandoff;
using Request = Supervisor::UpgradeRequest;

const Cell kCells[] = {
    {kDrain, Phase::kStarting, Event::kNewStarted, State::kServing, "generation 1 serves",
     [](Bench& b, auto) { EXPECT_EQ(b.report().serving, 1u); }},
    {kDrain, Phase::kStarting, Event::kNewExits, State::kStopping, "stop with its exit status; SIGTERM the others",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(1), 1); }},
    {kDrain, Phase::kStarting, Event::kUpgradeRequest, State::kStarting, "queued: runs once generation 1 serves",
     [](Bench& b, auto r) {
       EXPECT_EQ(r, Request::kQueued);
       EXPECT_TRUE(b.report().upgrade_pending);
     }},
    {kDrain, Phase::kStarting, Event::kGracefulStop, State::kStopping, "SIGTERM generation 1 (it never served)",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(1), 2); }},
    {kDrain, Phase::kStarting, Event::kFastStop, State::kStopping, "SIGTERM generation 1",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(1), 2); }},

    {kDrain, Phase::kServing, Event::kServingExits, State::kServing, "restart that slot after the backoff",
     [](Bench& b, auto) { EXPECT_EQ(b.report().worker_restarts, 1u); }},
    {kDrain, Phase::kServing, Event::kUpgradeRequest, State::kUpgrading, "start generation 2 beside generation 1",
     [](Bench& b, auto r) {
       EXPECT_EQ(r, Request::kStarted);
       EXPECT_EQ(b.launcher.live_count(), 4u);
     }},
    {kDrain, Phase::kServing, Event::kGracefulStop, State::kStopping, "DRAIN generation 1",
     [](Bench& b, auto) { EXPECT_EQ(b.drains(1), 2); }},
    {kDrain, Phase::kServing, Event::kFastStop, State::kStopping, "SIGTERM generation 1",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(1), 2); }},

    {kDrain, Phase::kUpgrading, Event::kNewStarted, State::kServing, "generation 2 serves; DRAIN generation 1",
     [](Bench& b, auto) {
       EXPECT_EQ(b.report().serving, 2u);
       EXPECT_EQ(b.drains(1), 2);
     }},
    {kDrain, Phase::kUpgrading, Event::kServingExits, State::kUpgrading, "restart that slot; the upgrade goes on",
     [](Bench& b, auto) { EXPECT_EQ(b.report().worker_restarts, 1u); }},
    {kDrain, Phase::kUpgrading, Event::kNewExits, State::kServing, "the upgrade fails; generation 1 untouched",
     [](Bench& b, auto) {
       EXPECT_EQ(b.report().upgrades_failed, 1u);
       EXPECT_EQ(b.drains(1) + b.terminates(1), 0);
     }},
    {kDrain, Phase::kUpgrading, Event::kUpgradeRequest, State::kUpgrading, "queued: one follow-up upgrade",
     [](Bench&, auto r) { EXPECT_EQ(r, Request::kQueued); }},
    {kDrain, Phase::kUpgrading, Event::kGracefulStop, State::kStopping,
     "the upgrade fails; SIGTERM generation 2, DRAIN generation 1",
     [](Bench& b, auto) {
       EXPECT_EQ(b.report().upgrades_failed, 1u);
       EXPECT_EQ(b.terminates(2), 2);
       EXPECT_EQ(b.drains(1), 2);
     }},
    {kDrain, Phase::kUpgrading, Event::kFastStop, State::kStopping, "the upgrade fails; SIGTERM both generations",
     [](Bench& b, auto) {
       EXPECT_EQ(b.terminates(2), 2);
       EXPECT_EQ(b.terminates(1), 2);
     }},

    {kDrain, Phase::kStopping, Event::kServingExits, State::kStopping, "not restarted; exit once every worker is gone",
     [](Bench& b, auto) { EXPECT_EQ(b.report().worker_restarts, 0u); }},
    {kDrain, Phase::kStopping, Event::kUpgradeRequest, State::kStopping, "refused",
     [](Bench&, auto r) { EXPECT_EQ(r, Request::kRefused); }},
    {kDrain, Phase::kStopping, Event::kGracefulStop, State::kStopping, "a second stop: SIGTERM what still drains",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(1), 2); }},
    {kDrain, Phase::kStopping, Event::kFastStop, State::kStopping, "SIGTERM what still drains",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(1), 2); }},

    {kDrain, Phase::kOnProbation, Event::kDeadline, State::kServing, "generation 2 passed its probation",
     [](Bench& b, auto) { EXPECT_FALSE(b.report().probation); }},
    {kDrain, Phase::kOnProbation, Event::kServingExits, State::kUpgrading,
     "roll back: start generation 1's held file as generation 3",
     [](Bench& b, auto) {
       EXPECT_EQ(b.report().rollbacks, 1u);
       EXPECT_NE(b.launcher.worker(3, 0), nullptr);
     }},
    {kDrain, Phase::kOnProbation, Event::kUpgradeRequest, State::kUpgrading,
     "the probation ends early; start generation 3",
     [](Bench& b, auto r) {
       EXPECT_EQ(r, Request::kStarted);
       EXPECT_FALSE(b.report().probation);
     }},
    {kDrain, Phase::kOnProbation, Event::kGracefulStop, State::kStopping, "the probation ends; DRAIN generation 2",
     [](Bench& b, auto) { EXPECT_EQ(b.drains(2), 2); }},
    {kDrain, Phase::kOnProbation, Event::kFastStop, State::kStopping, "SIGTERM every worker",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(2), 2); }},

    // Handoff mode: generation 1 starts, serves and stops as in drain mode;
    // an upgrade goes through STANDBY, HANDOFF and RESTORED.
    {kHandoff, Phase::kStarting, Event::kNewStarted, State::kServing, "generation 1 serves (READY: nothing to load)",
     [](Bench& b, auto) { EXPECT_EQ(b.report().serving, 1u); }},
    {kHandoff, Phase::kStarting, Event::kNewExits, State::kStopping, "stop with its exit status; SIGTERM the others",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(1), 1); }},
    {kHandoff, Phase::kStarting, Event::kUpgradeRequest, State::kStarting, "queued: runs once generation 1 serves",
     [](Bench&, auto r) { EXPECT_EQ(r, Request::kQueued); }},
    {kHandoff, Phase::kStarting, Event::kGracefulStop, State::kStopping, "SIGTERM generation 1",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(1), 2); }},
    {kHandoff, Phase::kStarting, Event::kFastStop, State::kStopping, "SIGTERM generation 1",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(1), 2); }},

    {kHandoff, Phase::kServing, Event::kServingExits, State::kServing, "restart that slot after the backoff",
     [](Bench& b, auto) { EXPECT_EQ(b.report().worker_restarts, 1u); }},
    {kHandoff, Phase::kServing, Event::kUpgradeRequest, State::kUpgrading,
     "start generation 2, told to STANDBY",
     [](Bench& b, auto r) {
       EXPECT_EQ(r, Request::kStarted);
       EXPECT_TRUE(b.launcher.worker(2, 0)->config.standby);
     }},
    {kHandoff, Phase::kServing, Event::kGracefulStop, State::kStopping, "DRAIN generation 1",
     [](Bench& b, auto) { EXPECT_EQ(b.drains(1), 2); }},
    {kHandoff, Phase::kServing, Event::kFastStop, State::kStopping, "SIGTERM generation 1",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(1), 2); }},

    {kHandoff, Phase::kUpgrading, Event::kNewStarted, State::kUpgrading,
     "every new worker stands by: HANDOFF to each pair, over a link of its own",
     [](Bench& b, auto) {
       EXPECT_EQ(b.launcher.worker(1, 1)->handoff_role, "sender");
       EXPECT_EQ(b.launcher.worker(2, 1)->handoff_role, "receiver");
     }},
    {kHandoff, Phase::kUpgrading, Event::kServingExits, State::kUpgrading, "restart that slot; the upgrade goes on",
     [](Bench& b, auto) { EXPECT_EQ(b.report().worker_restarts, 1u); }},
    {kHandoff, Phase::kUpgrading, Event::kNewExits, State::kServing, "the upgrade fails; generation 1 untouched",
     [](Bench& b, auto) {
       EXPECT_EQ(b.report().upgrades_failed, 1u);
       EXPECT_EQ(b.drains(1) + b.terminates(1) + b.resumes(1), 0);
     }},
    {kHandoff, Phase::kUpgrading, Event::kUpgradeRequest, State::kUpgrading, "queued: one follow-up upgrade",
     [](Bench&, auto r) { EXPECT_EQ(r, Request::kQueued); }},
    {kHandoff, Phase::kUpgrading, Event::kGracefulStop, State::kStopping,
     "the upgrade fails; SIGTERM generation 2, DRAIN generation 1",
     [](Bench& b, auto) {
       EXPECT_EQ(b.terminates(2), 2);
       EXPECT_EQ(b.drains(1), 2);
     }},
    {kHandoff, Phase::kUpgrading, Event::kFastStop, State::kStopping, "SIGTERM both generations",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(1) + b.terminates(2), 4); }},

    {kHandoff, Phase::kHandingOff, Event::kAllRestored, State::kServing,
     "COMMIT generation 2, then generation 1; generation 2 serves",
     [](Bench& b, auto) {
       EXPECT_EQ(b.report().serving, 2u);
       EXPECT_EQ(b.commits(2), 2);
       EXPECT_EQ(b.commits(1), 2);
     }},
    {kHandoff, Phase::kHandingOff, Event::kOldRefuses, State::kServing,
     "the upgrade fails; generation 1 RESUMEs, generation 2 is killed",
     [](Bench& b, auto) {
       EXPECT_EQ(b.report().upgrades_failed, 1u);
       EXPECT_EQ(b.resumes(1), 2);
       EXPECT_FALSE(b.launcher.worker(2, 0)->rejected.empty());
     }},
    {kHandoff, Phase::kHandingOff, Event::kDeadline, State::kServing,
     "--handoff-timeout: the upgrade fails; generation 1 RESUMEs",
     [](Bench& b, auto) {
       EXPECT_EQ(b.report().upgrades_failed, 1u);
       EXPECT_EQ(b.resumes(1), 2);
     }},
    {kHandoff, Phase::kHandingOff, Event::kServingExits, State::kServing,
     "the upgrade fails (that state is lost); the others RESUME; the slot restarts",
     [](Bench& b, auto) {
       EXPECT_EQ(b.report().upgrades_failed, 1u);
       EXPECT_EQ(b.resumes(1), 1);
       EXPECT_EQ(b.report().worker_restarts, 1u);
     }},
    {kHandoff, Phase::kHandingOff, Event::kNewExits, State::kServing, "the upgrade fails; generation 1 RESUMEs",
     [](Bench& b, auto) { EXPECT_EQ(b.resumes(1), 2); }},
    {kHandoff, Phase::kHandingOff, Event::kUpgradeRequest, State::kUpgrading, "queued: one follow-up upgrade",
     [](Bench&, auto r) { EXPECT_EQ(r, Request::kQueued); }},
    {kHandoff, Phase::kHandingOff, Event::kGracefulStop, State::kStopping,
     "the upgrade fails; DRAIN generation 1 (each RESUMEs first); SIGTERM generation 2",
     [](Bench& b, auto) {
       EXPECT_EQ(b.drains(1), 2);  // WorkerProcess::drain() resumes a worker in a handoff
       EXPECT_EQ(b.terminates(2), 2);
     }},
    {kHandoff, Phase::kHandingOff, Event::kFastStop, State::kStopping, "SIGTERM both generations",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(1) + b.terminates(2), 4); }},

    {kHandoff, Phase::kOnProbation, Event::kDeadline, State::kServing,
     "generation 2 passed its probation; COMMIT the parked generation 1",
     [](Bench& b, auto) {
       EXPECT_FALSE(b.report().probation);
       EXPECT_EQ(b.commits(1), 2);
     }},
    {kHandoff, Phase::kOnProbation, Event::kServingExits, State::kServing,
     "roll back: the parked generation 1 RESUMEs and serves; DRAIN generation 2",
     [](Bench& b, auto) {
       EXPECT_EQ(b.report().serving, 1u);
       EXPECT_EQ(b.resumes(1), 2);
       EXPECT_EQ(b.drains(2), 1);
     }},
    {kHandoff, Phase::kOnProbation, Event::kUpgradeRequest, State::kUpgrading,
     "the probation ends early (COMMIT generation 1); start generation 3",
     [](Bench& b, auto r) {
       EXPECT_EQ(r, Request::kStarted);
       EXPECT_EQ(b.commits(1), 2);
     }},
    {kHandoff, Phase::kOnProbation, Event::kGracefulStop, State::kStopping,
     "the probation ends (COMMIT generation 1); DRAIN generation 2",
     [](Bench& b, auto) {
       EXPECT_EQ(b.commits(1), 2);
       EXPECT_EQ(b.drains(2), 2);
     }},
    {kHandoff, Phase::kOnProbation, Event::kFastStop, State::kStopping, "SIGTERM every worker",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(2), 2); }},

    {kHandoff, Phase::kStopping, Event::kServingExits, State::kStopping, "not restarted",
     [](Bench& b, auto) { EXPECT_EQ(b.report().worker_restarts, 0u); }},
    {kHandoff, Phase::kStopping, Event::kUpgradeRequest, State::kStopping, "refused",
     [](Bench&, auto r) { EXPECT_EQ(r, Request::kRefused); }},
    {kHandoff, Phase::kStopping, Event::kGracefulStop, State::kStopping, "SIGTERM what still drains",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(1), 2); }},
    {kHandoff, Phase::kStopping, Event::kFastStop, State::kStopping, "SIGTERM what still drains",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(1), 2); }},
    // UNHEALTHY rolls back only a generation on probation; anywhere else it is logged.
    {kDrain, Phase::kServing, Event::kServingUnhealthy, State::kServing, "logged; it serves on",
     [](Bench& b, auto) { EXPECT_EQ(b.drains(1) + b.terminates(1), 0); }},
    {kDrain, Phase::kOnProbation, Event::kServingUnhealthy, State::kUpgrading,
     "roll back as for a crash: generation 1's held file starts as generation 3",
     [](Bench& b, auto) {
       EXPECT_EQ(b.report().rollbacks, 1u);
       EXPECT_NE(b.report().last_rollback->reason.find("unhealthy (its database is gone)"), std::string::npos);
     }},
    {kDrain, Phase::kUpgrading, Event::kServingUnhealthy, State::kUpgrading, "logged; the upgrade goes on",
     [](Bench& b, auto) { EXPECT_EQ(b.report().rollbacks, 0u); }},
    {kDrain, Phase::kStopping, Event::kServingUnhealthy, State::kStopping, "logged",
     [](Bench& b, auto) { EXPECT_EQ(b.report().rollbacks, 0u); }},
    {kHandoff, Phase::kServing, Event::kServingUnhealthy, State::kServing, "logged; it serves on",
     [](Bench& b, auto) { EXPECT_EQ(b.drains(1) + b.terminates(1), 0); }},
    {kHandoff, Phase::kUpgrading, Event::kServingUnhealthy, State::kUpgrading, "logged; the upgrade goes on",
     [](Bench& b, auto) { EXPECT_EQ(b.report().rollbacks, 0u); }},
    {kHandoff, Phase::kHandingOff, Event::kServingUnhealthy, State::kUpgrading, "logged; the handoff goes on",
     [](Bench& b, auto) { EXPECT_EQ(b.resumes(1), 0); }},
    {kHandoff, Phase::kOnProbation, Event::kServingUnhealthy, State::kServing,
     "roll back as for a crash: the parked generation 1 RESUMEs; DRAIN generation 2",
     [](Bench& b, auto) {
       EXPECT_EQ(b.report().serving, 1u);
       EXPECT_EQ(b.resumes(1), 2);
       EXPECT_EQ(b.drains(2), 2);
     }},
    {kHandoff, Phase::kStopping, Event::kServingUnhealthy, State::kStopping, "logged",
     [](Bench& b, auto) { EXPECT_EQ(b.report().rollbacks, 0u); }},
    // The probation check's verdict: like UNHEALTHY, it rolls back only a generation on probation.
    {kDrain, Phase::kServing, Event::kCheckFails, State::kServing, "nothing: no probation",
     [](Bench& b, auto) { EXPECT_EQ(b.report().rollbacks, 0u); }},
    {kDrain, Phase::kOnProbation, Event::kCheckFails, State::kUpgrading, "roll back as for a crash",
     [](Bench& b, auto) { EXPECT_EQ(b.report().rollbacks, 1u); }},
    {kDrain, Phase::kUpgrading, Event::kCheckFails, State::kUpgrading, "nothing: no probation",
     [](Bench& b, auto) { EXPECT_EQ(b.report().rollbacks, 0u); }},
    {kDrain, Phase::kStopping, Event::kCheckFails, State::kStopping, "nothing",
     [](Bench& b, auto) { EXPECT_EQ(b.report().rollbacks, 0u); }},
    {kHandoff, Phase::kServing, Event::kCheckFails, State::kServing, "nothing: no probation",
     [](Bench& b, auto) { EXPECT_EQ(b.report().rollbacks, 0u); }},
    {kHandoff, Phase::kUpgrading, Event::kCheckFails, State::kUpgrading, "nothing: no probation",
     [](Bench& b, auto) { EXPECT_EQ(b.report().rollbacks, 0u); }},
    {kHandoff, Phase::kHandingOff, Event::kCheckFails, State::kUpgrading, "nothing: no probation",
     [](Bench& b, auto) { EXPECT_EQ(b.resumes(1), 0); }},
    {kHandoff, Phase::kOnProbation, Event::kCheckFails, State::kServing,
     "roll back as for a crash: the parked generation 1 RESUMEs",
     [](Bench& b, auto) {
       EXPECT_EQ(b.report().serving, 1u);
       EXPECT_EQ(b.resumes(1), 2);
     }},
    {kHandoff, Phase::kStopping, Event::kCheckFails, State::kStopping, "nothing",
     [](Bench& b, auto) { EXPECT_EQ(b.report().rollbacks, 0u); }},
    // --rolling 1, two workers: slot 0 is replaced (2.0 serves), batch 2 has started 2.1.
    {kDrain, Phase::kRolling, Event::kNewStarted, State::kUpgrading,
     "2.1 serves; DRAIN 1.1; the upgrade ends once 1.1 has exited",
     [](Bench& b, auto) { EXPECT_EQ(b.launcher.worker(1, 1)->drains, 1); }},
    {kDrain, Phase::kRolling, Event::kDeadline, State::kUpgrading,
     "batch 2 failed: 2.1 is ended; slot 0 goes back to generation 1's file",
     [](Bench& b, auto) { EXPECT_FALSE(b.launcher.worker(2, 1)->rejected.empty()); }},
    {kDrain, Phase::kRolling, Event::kServingExits, State::kUpgrading,
     "restart that slot (generation 1's held file); the upgrade goes on",
     [](Bench& b, auto) { EXPECT_EQ(b.report().worker_restarts, 1u); }},
    {kDrain, Phase::kRolling, Event::kServingUnhealthy, State::kUpgrading, "logged; the upgrade goes on",
     [](Bench& b, auto) { EXPECT_EQ(b.report().last_upgrade->rolling->failed_batch, 0u); }},
    {kDrain, Phase::kRolling, Event::kCheckFails, State::kUpgrading, "nothing: no probation",
     [](Bench& b, auto) { EXPECT_EQ(b.report().last_upgrade->rolling->failed_batch, 0u); }},
    {kDrain, Phase::kRolling, Event::kNewExits, State::kUpgrading,
     "batch 2 failed (2.0 crashed): 2.1 is ended; slot 0 starts generation 1's file",
     [](Bench& b, auto) {
       EXPECT_EQ(b.report().last_upgrade->rolling->failed_batch, 2u);
       EXPECT_FALSE(b.launcher.worker(2, 1)->rejected.empty());
     }},
    {kDrain, Phase::kRolling, Event::kUpgradeRequest, State::kUpgrading, "queued: one follow-up upgrade",
     [](Bench&, auto r) { EXPECT_EQ(r, Request::kQueued); }},
    {kDrain, Phase::kRolling, Event::kGracefulStop, State::kStopping,
     "the upgrade fails; DRAIN 1.1 and 2.0 (it serves), SIGTERM 2.1",
     [](Bench& b, auto) {
       EXPECT_EQ(b.drains(1) + b.drains(2), 2);
       EXPECT_EQ(b.launcher.worker(2, 1)->terminates, 1);
     }},
    {kDrain, Phase::kRolling, Event::kFastStop, State::kStopping, "SIGTERM every worker",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(1) + b.terminates(2), 3); }},
    {kHandoff, Phase::kRolling, Event::kNewStarted, State::kUpgrading,
     "2.1 stands by: HANDOFF to the pair 1.1 and 2.1 over a link of its own",
     [](Bench& b, auto) {
       EXPECT_EQ(b.launcher.worker(1, 1)->handoff_role, "sender");
       EXPECT_EQ(b.launcher.worker(2, 1)->handoff_role, "receiver");
     }},
    {kHandoff, Phase::kRolling, Event::kDeadline, State::kUpgrading,
     "batch 2 failed: 2.1 is ended; slot 0 goes back, 2.0's state with it",
     [](Bench& b, auto) {
       EXPECT_FALSE(b.launcher.worker(2, 1)->rejected.empty());
       EXPECT_EQ(b.report().last_upgrade->rolling->failed_batch, 2u);
     }},
    {kHandoff, Phase::kRolling, Event::kServingExits, State::kUpgrading,
     "restart that slot (not linked yet: no state was on its way); the upgrade goes on",
     [](Bench& b, auto) { EXPECT_EQ(b.report().worker_restarts, 1u); }},
    {kHandoff, Phase::kRolling, Event::kServingUnhealthy, State::kUpgrading, "logged; the upgrade goes on",
     [](Bench& b, auto) { EXPECT_EQ(b.report().last_upgrade->rolling->failed_batch, 0u); }},
    {kHandoff, Phase::kRolling, Event::kCheckFails, State::kUpgrading, "nothing: no probation",
     [](Bench& b, auto) { EXPECT_EQ(b.report().last_upgrade->rolling->failed_batch, 0u); }},
    {kHandoff, Phase::kRolling, Event::kNewExits, State::kUpgrading,
     "batch 2 failed (2.0 crashed, its state lost): slot 0 starts generation 1's file afresh",
     [](Bench& b, auto) {
       EXPECT_EQ(b.report().last_upgrade->rolling->failed_batch, 2u);
       EXPECT_FALSE(b.launcher.worker(2, 1)->rejected.empty());
     }},
    {kHandoff, Phase::kRolling, Event::kUpgradeRequest, State::kUpgrading, "queued: one follow-up upgrade",
     [](Bench&, auto r) { EXPECT_EQ(r, Request::kQueued); }},
    {kHandoff, Phase::kRolling, Event::kGracefulStop, State::kStopping,
     "the upgrade fails; DRAIN 1.1 and 2.0 (it serves), SIGTERM 2.1",
     [](Bench& b, auto) {
       EXPECT_EQ(b.drains(1) + b.drains(2), 2);
       EXPECT_EQ(b.launcher.worker(2, 1)->terminates, 1);
     }},
    {kHandoff, Phase::kRolling, Event::kFastStop, State::kStopping, "SIGTERM every worker",
     [](Bench& b, auto) { EXPECT_EQ(b.terminates(1) + b.terminates(2), 3); }},
};

class PhaseEvent : public ::testing::TestWithParam<Cell> {};

TEST_P(PhaseEvent, GoesWhereTheTableSays) {
  const Cell& cell = GetParam();
  Bench b(cell.mode, cell.event == Event::kDeadline);
  // --probation is long unless the cell waits for its end.
  b.enter(cell.phase, cell.event == Event::kDeadline ? std::chrono::milliseconds(1) : std::chrono::hours(1));
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(b.supervisor->state(), cell.phase == Phase::kStarting    ? State::kStarting
                                   : cell.phase == Phase::kStopping  ? State::kStopping
                                   : cell.phase == Phase::kUpgrading || cell.phase == Phase::kHandingOff ||
                                             cell.phase == Phase::kRolling
                                       ? State::kUpgrading
                                       : State::kServing);
  const auto answer = b.deliver(cell.event);
  EXPECT_EQ(b.supervisor->state(), cell.next) << cell.action;
  cell.check(b, answer);
}

INSTANTIATE_TEST_SUITE_P(Table, PhaseEvent, ::testing::ValuesIn(kCells), [](const auto& info) {
  return std::string(name(info.param.mode)) + "_" + name(info.param.phase) + "_" + name(info.param.event);
});

// Each possible (mode, phase, event) has exactly one row; see possible().
TEST(PhaseEventTable, CoversEveryPossibleCell) {
  std::set<std::tuple<UpgradeMode, Phase, Event>> seen;
  for (const Cell& c : kCells) {
    EXPECT_TRUE(seen.insert({c.mode, c.phase, c.event}).second)
        << "twice: " << name(c.mode) << " " << name(c.phase) << " x " << name(c.event);
    EXPECT_TRUE(possible(c.mode, c.phase, c.event)) << name(c.mode) << " " << name(c.phase) << " x " << name(c.event);
  }
  for (auto mode : {kDrain, kHandoff})
    for (int p = 0; p < kPhases; ++p)
      for (int e = 0; e < kEvents; ++e) {
        if (!possible(mode, Phase(p), Event(e))) continue;
        EXPECT_TRUE(seen.count({mode, Phase(p), Event(e)}))
            << "no row for " << name(mode) << " " << name(Phase(p)) << " x " << name(Event(e));
      }
}

}  // namespace
}  // namespace baton
