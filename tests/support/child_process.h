// ChildProcess: a helper program a test starts (Prometheus, a client run
// under another uid), its output to a log file, ended by pid and reaped when
// the test is done.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace testing_support {

class ChildProcess {
 public:
  // Starts argv (argv[0] found on PATH); stdout and stderr go to `log_path`.
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path);
  // SIGTERM, then SIGKILL after 10 s; reaps it.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();  // false once it has exited (and is reaped)
  std::string log() const;

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string log_path_;
};

// Calls `check` every 100 ms until it returns true or `timeout` passes: for
// state that only a query shows (Prometheus' scrapes), never as a delay.
bool eventually(const std::function<bool()>& check, std::chrono::milliseconds timeout = std::chrono::seconds(60));

// A TCP port on 127.0.0.1 that nothing listens on right now.
std::uint16_t free_local_port();

}  // namespace testing_support
