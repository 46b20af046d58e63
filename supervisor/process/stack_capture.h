// StackCapture: what a hung worker was doing, kept before baton ends it
// (--hang-timeout). It runs
//
//   eu-stack -p PID                                (elfutils), or where only gdb is installed,
//   gdb -p PID -batch -nx -ex "thread apply all bt"
//
// with its output going to a file, as a child watched from baton's loop (its
// exit through a pidfd, a deadline after which it is killed), so that baton
// serves on meanwhile. Tracing needs ptrace rights over the worker: baton as
// root has them; otherwise the kernel's Yama setting (ptrace_scope 1 lets
// only ancestors trace) refuses, and the file says so.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "baton/status.h"
#include "baton/uv_handle.h"
#include "child_exit.h"

namespace baton {

class StackCapture {
 public:
  // Once, on the loop: "its threads' stacks (eu-stack) are in FILE", or why there are none.
  using Done = std::function<void(const std::string& outcome)>;

  // The tool's path: eu-stack, else gdb; none when neither is installed.
  static std::optional<std::string> find_tool();
  // Traces `target` into `file` (created, 0600; `header` first).
  static Result<std::unique_ptr<StackCapture>> start(uv_loop_t* loop, pid_t target, const std::string& file,
                                                     const std::string& header, std::chrono::milliseconds deadline,
                                                     Done done);
  ~StackCapture();  // a capture still running is killed and reaped
  StackCapture(const StackCapture&) = delete;
  StackCapture& operator=(const StackCapture&) = delete;

  pid_t pid() const { return pid_; }

 private:
  StackCapture(uv_loop_t* loop, std::string tool, std::string file, Done done);
  void exited(int status);

  std::string tool_, file_;
  Done done_;
  pid_t pid_ = -1;
  ChildExit exit_;
  Timer deadline_;
  std::string timed_out_;  // once the deadline passed: what to say of it
};

}  // namespace baton
