// WorkerProcess: one worker child, its end of the channel, and where it stands
// in the protocol (shared/PROTOCOL.md, "Message order"):
//
//   kStarting --HELLO/WELCOME--> kWelcomed --READY--> kReady --drain()--> kDraining
//        \______________________________________________________________/
//                      any state --process exit--> kExited
//
// A worker that breaks the protocol, reports ERROR or misses its ready
// deadline is rejected: SIGKILL, and the reason is handed to on_exit. Every
// wait has a deadline: ready_timeout; drain_timeout then SIGTERM; kill_timeout
// then SIGKILL. The process is always reaped (libuv's exit callback, or the
// destructor as a last resort).
//
// Lives on the supervisor's loop thread. The owner may destroy it from
// on_exit (it is the last thing that callback touches).
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "baton/channel.h"
#include "baton/listener_socket.h"
#include "baton/status.h"
#include "baton/uv_handle.h"

namespace baton {

class WorkerProcess {
 public:
  enum class State { kStarting, kWelcomed, kReady, kDraining, kExited };

  struct Config {
    std::vector<std::string> command;  // argv; argv[0] is looked up at this spawn
    std::uint64_t generation = 0;
    std::uint32_t index = 0;
    std::chrono::milliseconds ready_timeout{10'000};
    std::chrono::milliseconds kill_timeout{5'000};
  };

  struct ExitInfo {
    std::int64_t status = 0;  // exit status, when not killed by a signal
    int signal = 0;           // terminating signal, 0 if it exited
    std::string rejected;     // why baton killed it, empty if it did not
    std::string describe() const;  // "exited with status 3", "rejected (...): killed by SIGKILL"
  };

  struct Callbacks {
    std::function<void(WorkerProcess&)> on_ready;
    std::function<void(WorkerProcess&, const ExitInfo&)> on_exit;
  };

  // Starts the worker. Fails (and nothing is left behind) when it cannot be
  // executed: missing, not executable, fork failure.
  static Result<std::unique_ptr<WorkerProcess>> spawn(uv_loop_t* loop, Config config,
                                                      const std::vector<BoundListener>& listeners,
                                                      Callbacks callbacks);
  ~WorkerProcess();

  pid_t pid() const { return pid_; }
  State state() const { return state_; }
  std::uint64_t generation() const { return config_.generation; }
  std::uint32_t index() const { return config_.index; }
  std::chrono::steady_clock::time_point started_at() const { return started_at_; }
  const std::string& name() const { return name_; }  // "worker 3.0 (pid 1234)"

  // Asks the worker to finish and exit: DRAIN, then SIGTERM after
  // drain_timeout, then SIGKILL after kill_timeout. A worker that is not READY
  // yet has nothing to drain and gets terminate().
  void drain(std::chrono::milliseconds drain_timeout);
  // SIGTERM now, SIGKILL after kill_timeout.
  void terminate();
  // Kills the worker now; `reason` is reported through on_exit.
  void reject(const std::string& reason);

 private:
  WorkerProcess(uv_loop_t* loop, Config config, const std::vector<BoundListener>& listeners,
                Callbacks callbacks);
  static void on_process_exit(uv_process_t* process, std::int64_t status, int signal);
  static void on_readable(uv_poll_t* poll, int status, int events);
  void read_channel();
  void handle(const Envelope& message);
  void send_signal(int signal);
  void escalate_to_kill();

  Config config_;
  const std::vector<BoundListener>& listeners_;  // owned by the supervisor, outlives workers
  Callbacks callbacks_;
  State state_ = State::kStarting;
  pid_t pid_ = 0;
  std::string name_;
  std::string rejected_;
  std::chrono::steady_clock::time_point started_at_;

  // Declared in this order so that on destruction the poll handle stops
  // watching before the channel fd closes.
  Channel channel_;
  UvHandle<uv_poll_t> poll_;
  UvHandle<uv_process_t> process_;
  Timer deadline_;  // ready deadline, then drain / kill escalation
};

}  // namespace baton
