// What baton runs with: every setting of `baton run`, as the command line
// and the config file (operate/command_line.h) give it, and baton's exit codes.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "baton/listener_spec.h"

namespace baton {

enum class LogFormat { kText, kJson };
enum class UpgradeMode {
  kDrain,    // new generation accepts next to the old one; the old drains (stateless services)
  kHandoff,  // old generation hands its state and open connections to the new one (stateful)
};

// The signals baton passes on to its serving workers without being asked.
std::vector<int> default_forward_signals();

struct Options {
  std::vector<ListenerSpec> listeners;
  std::vector<std::string> command;  // the worker's argv; argv[0] is resolved at every spawn
  unsigned workers = 1;
  // An upgrade replaces at most this many workers at a time, batch after
  // batch (supervisor_rolling.cc); 0: the whole generation at once.
  unsigned rolling = 0;
  // At most this many generations have workers alive at once, a new one
  // included: an upgrade past it waits for a retiring generation to finish.
  unsigned max_generations = 3;
  int start_nice = 19;  // a starting worker's nice value until READY/STANDBY (start_priority.h); 0: none
  std::chrono::milliseconds ready_timeout{10'000};
  std::chrono::milliseconds drain_timeout{30'000};
  std::chrono::milliseconds kill_timeout{5'000};
  // A graceful stop reports "not ready" at once and serves this long before
  // draining, so that load balancers polling /readyz look elsewhere first.
  std::chrono::milliseconds stop_delay{0};
  // After an upgrade, if the new generation crashes within this time of
  // taking over, baton rolls back to the previous one on its own (0: off).
  std::chrono::milliseconds probation{0};
  // During a probation, GET this every second (a URL, or a path on the first
  // TCP listener); kProbationCheckFailures failures in a row roll back.
  std::string probation_check;
  UpgradeMode mode = UpgradeMode::kDrain;
  std::chrono::milliseconds handoff_timeout{30'000};
  // A serving worker whose event loop has not answered a heartbeat for this
  // long is hung: killed and replaced (0: off; workers that do not answer
  // heartbeats are never asked).
  std::chrono::milliseconds hang_timeout{0};
  // A hung worker's stacks are written here first; then it gets this
  // signal (SIGABRT: a core dump too), and SIGKILL after kill_timeout.
  std::string hang_stacks = "/tmp";
  int hang_signal = 15;  // SIGTERM
  // Recycling: a serving worker older than recycle_after (plus its own
  // random share of recycle_jitter), or whose private memory passes
  // recycle_memory, is replaced by a fresh process of the same file; its
  // state and connections move in handoff mode (0: off).
  std::chrono::milliseconds recycle_after{0};
  std::chrono::milliseconds recycle_jitter{0};
  std::uint64_t recycle_memory = 0;  // bytes
  // Memory admission: new processes start only if they fit under the
  // cgroup's memory limit with this share of it kept free.
  unsigned memory_headroom = 10;  // percent
  std::string pid_file;
  std::string log_level = "info";
  LogFormat log_format = LogFormat::kText;
  std::string name;     // names the control socket; default: the worker's file name
  std::string control;  // the control socket's path; default from `name` (control_path.h)
  std::string user, group;  // workers run as these (worker_identity.h); empty: as baton
  std::optional<ListenerSpec> metrics;  // where /metrics is served, if anywhere
  bool watch = false;  // upgrade when the worker's executable is replaced (executable_watch.h)
  std::chrono::milliseconds watch_settle{1'000};  // ... and has not changed for this long
  // UDP flow steering (flow_inboxes.h): inboxes for workers that ask.
  bool udp_steering = true;
  // Signals passed on to the serving workers: SIGUSR1, SIGUSR2, SIGWINCH and
  // any --forward-signal.
  std::vector<int> forward_signals = default_forward_signals();

  bool operator==(const Options&) const = default;
};

// Options::rolling's `auto`: the largest batch that fits in memory (memory admission).
inline constexpr unsigned kRollingAuto = ~0u;

// Exit codes of `baton` (also listed in --help and README).
namespace exit_code {
inline constexpr int kOk = 0;               // stopped cleanly (SIGTERM/SIGINT, everything drained)
inline constexpr int kInternal = 1;         // unexpected internal error
inline constexpr int kUsage = 2;            // bad flags or listener specs
inline constexpr int kSetup = 3;            // could not bind a listener or write the pid file
inline constexpr int kWorkerFailed = 4;     // baton ended the first generation before it was ready
// A first-generation worker that exits on its own before it is ready passes
// its status on (1-255), or 128+n for the signal n that killed it.
inline constexpr int kNotExecutable = 126;  // the worker exists but cannot be executed
inline constexpr int kNotFound = 127;       // the worker binary was not found
}  // namespace exit_code

}  // namespace baton
