#include "stack_capture.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>

#include "baton/unique_fd.h"
#include "duration.h"
#include "process_spawn.h"
#include "worker_executable.h"

namespace baton {
namespace {

std::vector<std::string> tool_argv(const std::string& tool, pid_t target) {
  const std::string pid = std::to_string(target);
  if (std::filesystem::path(tool).filename() == "eu-stack") return {tool, "-p", pid};
  return {tool, "-p", pid, "-batch", "-nx", "-ex", "thread apply all bt"};
}

Result<UniqueFd> create_file(const std::string& file, const std::string& header) {
  UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return Status::from_errno(errno, "create " + file);
  if (::write(fd.get(), header.data(), header.size()) != static_cast<ssize_t>(header.size()))
    return Status::from_errno(errno, "write " + file);
  return fd;
}

}  // namespace

std::optional<std::string> StackCapture::find_tool() {
  for (const char* name : {"eu-stack", "gdb"})
    if (auto path = resolve_executable(name)) return *path;
  return std::nullopt;
}

StackCapture::StackCapture(uv_loop_t* loop, std::string tool, std::string file, Done done)
    : tool_(std::move(tool)), file_(std::move(file)), done_(std::move(done)), deadline_(loop) {}

Result<std::unique_ptr<StackCapture>> StackCapture::start(uv_loop_t* loop, pid_t target, const std::string& file,
                                                          const std::string& header,
                                                          std::chrono::milliseconds deadline, Done done) {
  auto tool = find_tool();
  if (!tool) return Status::error("neither eu-stack (elfutils) nor gdb is installed");
  auto out = create_file(file, header);
  if (!out) return out.status();
  std::unique_ptr<StackCapture> c(new StackCapture(loop, *tool, file, std::move(done)));
  auto pid = spawn_process({.file = *tool, .argv = tool_argv(*tool, target), .env = current_environment(),
                            .stdout_fd = out->get(), .stderr_fd = out->get()});
  if (!pid) return pid.status().with_context("start " + *tool);
  c->pid_ = *pid;
  if (Status st = c->exit_.watch(loop, c->pid_, [p = c.get()](int status) { p->exited(status); }); !st)
    return st.with_context(*tool);
  c->deadline_.start(deadline, [p = c.get(), deadline] {
    p->timed_out_ = " took longer than " + format_duration(deadline) + " and was killed;";
    ::kill(p->pid_, SIGKILL);  // its exit follows on the pidfd
  });
  return c;
}

void StackCapture::exited(int status) {
  pid_ = -1;
  deadline_.stop();
  const std::string name = std::filesystem::path(tool_).filename();
  std::string outcome = "its threads' stacks (" + name + ") are in " + file_;
  if (!timed_out_.empty()) outcome = name + timed_out_ + " what it wrote is in " + file_;
  else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    outcome = name + " " + describe_wait_status(status) + " (it says why in " + file_ + ")";
  Done done = std::move(done_);
  done(outcome);  // last: it may destroy this
}

StackCapture::~StackCapture() {
  if (pid_ > 0) ChildExit::kill_and_reap(pid_);
}

}  // namespace baton
