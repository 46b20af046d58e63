// Running a short-lived command (baton's client commands, promtool,
// systemd-analyze) and capturing what it says, bounded in time.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace testing_support {

struct CommandResult {
  int exit_code = -1;  // 128+signal if killed; -1 if it could not run
  std::string out, err;
  bool timed_out = false;  // killed after the timeout
  std::string describe() const;  // for failure messages
};

// Runs argv (argv[0] found on PATH), with stdin from /dev/null; SIGKILL after `timeout`.
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));
// `baton ARGS...`
CommandResult run_baton(std::vector<std::string> args, std::chrono::milliseconds timeout = std::chrono::seconds(60));
// True if `program` is on PATH.
bool have_program(const std::string& program);

}  // namespace testing_support
