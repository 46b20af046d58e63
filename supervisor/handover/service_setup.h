// What `baton run` opens before any worker starts (listeners, pid file,
// control socket, metrics listener), or, after `baton upgrade --self`, takes
// over from the previous baton; and what baton needs to re-execute itself.
#pragma once

#include <signal.h>
#include <uv.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "baton/listener_socket.h"
#include "control_server.h"
#include "handover_table.h"
#include "metrics_server.h"
#include "options.h"
#include "pid_file.h"
#include "systemd_notify.h"
#include "worker_identity.h"

namespace baton {

class ExecutableWatch;

// What `baton upgrade --self` executes again: this binary's path as it was
// started (a deploy renames a new build over it), with the same arguments.
struct SelfImage {
  std::string path;
  std::vector<std::string> argv;
  sigset_t handled_signals{};  // blocked across the exec: they wait for the new image's handlers
};
SelfImage self_image(int argc, char** argv);

// A failure to open any of it exits with kSetup and nothing running.
struct Setup {
  std::vector<BoundListener> listeners;
  std::optional<PidFile> pid_file;
  std::unique_ptr<ControlServer> control;
  std::unique_ptr<MetricsServer> metrics;
  std::optional<WorkerIdentity> identity;  // --user
  SelfImage self;
  std::optional<HandoverTable> adopted;  // what a previous baton handed over (upgrade --self)
  std::optional<std::string> config_text;  // the --config file as read at start: carried, never read again
  const SystemdNotifier* notifier = nullptr;
  const ExecutableWatch* watch = nullptr;  // with --watch
};

// Opens (or, with `setup.adopted`, takes over) everything; an exit code, kOk when all is open.
int open_setup(uv_loop_t* loop, const Options& options, Setup& setup);

}  // namespace baton
