// BatonProcess: a real `baton` child for integration tests. Its stdout and
// stderr (and its workers', which inherit them) are captured line by line,
// so a test waits on what baton says: "generation 2 serving", a pid, a port.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "baton/unique_fd.h"

namespace testing_support {

using namespace std::chrono_literals;

struct LogMatch {
  std::size_t line = 0;             // index of the matching line
  std::vector<std::string> groups;  // regex groups, [0] = whole match
};

class BatonProcess {
 public:
  // A listening socket passed the way systemd does (fd 3, LISTEN_FDS=1,
  // LISTEN_FDNAMES, LISTEN_PID): the caller keeps its own copy, as systemd does.
  struct Activation {
    int fd = -1;
    std::string name;
  };

  // Where baton's stdout and stderr go: captured line by line (kCaptured),
  // or a pipe whose reader has gone away (kReaderGone; nothing to wait_for).
  enum class Output { kCaptured, kReaderGone };

  // Runs `baton run ARGS...` (args after "run"). A `wrapper` (a command that
  // execs its arguments in place, like `unshare -m`) goes in front, so the
  // pid is still baton's. Unless ARGS name a control socket (--control,
  // --name, --config), baton gets one in a directory of its own, so that
  // tests running side by side never meet. `binary`: another baton than the build's.
  explicit BatonProcess(std::vector<std::string> run_args, std::optional<Activation> activation = std::nullopt,
                        Output output = Output::kCaptured, std::vector<std::string> wrapper = {},
                        std::string binary = BATON_BIN);
  // Stops baton (SIGTERM, then SIGKILL) if a test left it running, and reaps it.
  ~BatonProcess();

  pid_t pid() const { return pid_; }
  // The --control PATH this object chose, empty if the test chose.
  const std::string& control_path() const { return control_path_; }

  // Number of lines so far; pass it as `from` to wait for something new.
  std::size_t mark() const;
  // Waits for a line at index >= from matching `pattern` (ECMAScript regex).
  std::optional<LogMatch> wait_for(const std::string& pattern, std::size_t from = 0,
                                   std::chrono::milliseconds timeout = 30s) const;
  std::size_t count(const std::string& pattern, std::size_t from = 0) const;
  std::string log() const;  // everything so far, for failure messages

  // The port of listener NAME, from baton's "listening NAME=tcp://HOST:PORT".
  std::uint16_t port(const std::string& name = "http") const;

  void signal(int signum) const;
  // Waits for baton to exit; its exit code, or 128+signal. nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout = 30s);

 private:
  void read_output();

  pid_t pid_ = -1;
  std::string control_dir_, control_path_;
  bool reaped_ = false;
  int exit_code_ = -1;
  baton::UniqueFd output_;
  std::thread reader_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::vector<std::string> lines_;
  bool eof_ = false;
};

// Waits until process `pid` (not necessarily our child) has exited.
bool wait_process_gone(pid_t pid, std::chrono::milliseconds timeout = 30s);

}  // namespace testing_support
