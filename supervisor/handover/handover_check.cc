#include "handover_check.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>

#include "duration.h"
#include "handover_table.h"
#include "command_line.h"
#include "process_spawn.h"

namespace baton {
namespace {

// Its answer is one line; what it says beyond this is not read.
constexpr std::size_t kMaxAnswer = 4096;

// What the check wrote before it exited (the pipe holds it: it is small).
std::string read_answer(int fd) {
  std::string said;
  char buffer[512];
  for (ssize_t n; said.size() < kMaxAnswer && (n = ::read(fd, buffer, sizeof buffer)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;  // EAGAIN: a grandchild holds the pipe open; what is there is its answer
    said.append(buffer, static_cast<std::size_t>(n));
  }
  return said;
}

}  // namespace

HandoverCheck::HandoverCheck(uv_loop_t* loop, std::string self_path, Done done)
    : loop_(loop), self_path_(std::move(self_path)), done_(std::move(done)), deadline_(loop) {}

Result<std::unique_ptr<HandoverCheck>> HandoverCheck::start(uv_loop_t* loop, const std::string& self_path,
                                                            const std::vector<std::string>& args, int table_fd,
                                                            std::chrono::milliseconds deadline, Done done) {
  std::unique_ptr<HandoverCheck> check(new HandoverCheck(loop, self_path, std::move(done)));
  int out[2];
  if (::pipe2(out, O_CLOEXEC | O_NONBLOCK) != 0) return Status::from_errno(errno, "pipe for the handover check");
  check->answer_ = UniqueFd(out[0]);
  UniqueFd write_end(out[1]);
  std::vector<std::string> argv{self_path, kCheckHandover, "--"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto pid = spawn_process({.file = self_path,
                            .argv = argv,
                            .env = current_environment(),
                            .stdin_fd = table_fd,
                            .stdout_fd = write_end.get(),
                            .stderr_fd = write_end.get()});
  if (!pid) return pid.status().with_context("run " + self_path + " " + kCheckHandover);
  check->pid_ = *pid;
  if (Status st = check->watch(deadline); !st) return st;
  return check;
}

Status HandoverCheck::watch(std::chrono::milliseconds deadline) {
  if (Status st = exit_.watch(loop_, pid_, [this](int status) { exited(status); }); !st)
    return st.with_context("the handover check");
  deadline_.start(deadline, [this, deadline] {
    timed_out_ = true;
    deadline_text_ = format_duration(deadline);
    ::kill(pid_, SIGKILL);  // its exit follows on the pidfd
  });
  return Status::ok();
}

void HandoverCheck::exited(int status) {
  pid_ = -1;
  deadline_.stop();
  const Status st = verdict(status, read_answer(answer_.get()));
  // Last: `done` may destroy this check.
  Done done = std::move(done_);
  done(st);
}

Status HandoverCheck::verdict(int status, const std::string& said) const {
  if (timed_out_)
    return Status::error(self_path_ + " did not answer the handover check within " + deadline_text_);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && said == std::string(kHandoverOk) + "\n") return Status::ok();
  std::string line = said.substr(0, said.find('\n'));
  return Status::error(self_path_ + " cannot take over (its " + kCheckHandover + " " + describe_wait_status(status) +
                       (line.empty() ? "" : " and said \"" + line.substr(0, 200) + "\"") +
                       "); is it a baton that reads handover table version " + std::to_string(kHandoverVersion) +
                       " and this command line?");
}

HandoverCheck::~HandoverCheck() {
  if (pid_ > 0) ChildExit::kill_and_reap(pid_);
}

int check_handover_main(int argc, char** argv) {
  auto table = read_handover(0);
  if (!table) {
    std::fprintf(stderr, "baton %s: %s\n", kCheckHandover, table.status().message().c_str());
    return 1;
  }
  // The command line the new image will run with: ARGS after "--" (none: an
  // older baton asked, which checked only the table).
  int first = 2;
  while (first < argc && std::string(argv[first]) != "--") ++first;
  if (first < argc) {
    std::vector<char*> args{argv[0]};
    args.insert(args.end(), argv + first + 1, argv + argc);
    const ParsedCommand parsed = parse_command_line(static_cast<int>(args.size()), args.data(), table->config_text);
    if (parsed.command != Command::kRun) return parsed.exit_code == 0 ? 1 : parsed.exit_code;
  }
  std::printf("%s\n", kHandoverOk);
  return 0;
}

}  // namespace baton
