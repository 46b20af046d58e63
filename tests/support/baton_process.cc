#include "support/baton_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <regex>
#include <stdexcept>

extern char** environ;

namespace testing_support {
namespace {

baton::UniqueFd pidfd_open(pid_t pid) { return baton::UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))); }

// Waits for the pidfd to become readable: the process has terminated.
bool wait_pidfd(int pidfd, std::chrono::milliseconds timeout) {
  pollfd p{pidfd, POLLIN, 0};
  for (;;) {
    int rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (rc < 0 && errno == EINTR) continue;
    return rc > 0;
  }
}

bool names_control_socket(const std::vector<std::string>& run_args) {
  for (const auto& a : run_args) {
    if (a == "--") return false;
    if (a == "--control" || a == "--name" || a == "--config" || a == "-c") return true;
  }
  return false;
}

}  // namespace

BatonProcess::BatonProcess(std::vector<std::string> run_args, std::optional<Activation> activation,
                           Output output, std::vector<std::string> wrapper, std::string binary) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  baton::UniqueFd read_end(pipefd[0]), write_end(pipefd[1]);
  std::vector<std::string> args = std::move(wrapper);
  args.insert(args.end(), {binary, "run"});
  if (!names_control_socket(run_args)) {
    char dir[] = "/tmp/baton-control-XXXXXX";
    if (::mkdtemp(dir) == nullptr) throw std::runtime_error("mkdtemp failed");
    control_dir_ = dir;
    control_path_ = control_dir_ + "/control.sock";
    args.insert(args.end(), {"--control", control_path_});
  }
  args.insert(args.end(), run_args.begin(), run_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The environment is built before fork(): the child may only call
  // async-signal-safe functions. LISTEN_PID's digits are filled in there.
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) env_storage.emplace_back(*e);
  std::size_t pid_slot = 0;
  if (activation) {
    env_storage.push_back("LISTEN_FDS=1");
    env_storage.push_back("LISTEN_FDNAMES=" + activation->name);
    pid_slot = env_storage.size();
    env_storage.push_back("LISTEN_PID=0000000000");
  }
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(write_end.get(), 1);
    ::dup2(write_end.get(), 2);
    if (activation) {
      // dup2 clears close-on-exec on the new fd; on fd 3 itself it would do nothing.
      if (activation->fd == 3) ::fcntl(3, F_SETFD, 0);
      else ::dup2(activation->fd, 3);
      char* digits = envp[pid_slot] + std::strlen("LISTEN_PID=");
      unsigned long pid = static_cast<unsigned long>(::getpid());
      int n = 0;
      char rev[16];
      do rev[n++] = static_cast<char>('0' + pid % 10); while ((pid /= 10) != 0);
      for (int i = 0; i < n; ++i) digits[i] = rev[n - 1 - i];
      digits[n] = '\0';
    }
    ::execvpe(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  if (output == Output::kReaderGone) {
    // Like a pager that quit or a log shipper that died: every write to
    // baton's stdout/stderr fails with EPIPE (SIGPIPE if not ignored).
    read_end.reset();
    std::lock_guard lock(mu_);
    eof_ = true;
    return;
  }
  output_ = std::move(read_end);
  reader_ = std::thread([this] { read_output(); });
}

BatonProcess::~BatonProcess() {
  if (!reaped_) {
    ::kill(pid_, SIGTERM);
    if (!wait_exit(20s)) {
      ::kill(pid_, SIGKILL);
      wait_exit(20s);
    }
  }
  // The pipe reaches EOF once baton and every worker that inherited it are gone.
  if (reader_.joinable()) reader_.join();
  if (!control_dir_.empty()) {
    ::unlink(control_path_.c_str());  // left behind only if baton was killed
    ::rmdir(control_dir_.c_str());
  }
}

void BatonProcess::read_output() {
  std::string partial;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(output_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    partial.append(buf, static_cast<std::size_t>(n));
    std::size_t nl;
    std::lock_guard<std::mutex> lock(mu_);
    while ((nl = partial.find('\n')) != std::string::npos) {
      lines_.push_back(partial.substr(0, nl));
      partial.erase(0, nl + 1);
    }
    changed_.notify_all();
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!partial.empty()) lines_.push_back(partial);
  eof_ = true;
  changed_.notify_all();
}

std::size_t BatonProcess::mark() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lines_.size();
}

std::optional<LogMatch> BatonProcess::wait_for(const std::string& pattern, std::size_t from,
                                               std::chrono::milliseconds timeout) const {
  std::regex re(pattern);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock<std::mutex> lock(mu_);
  std::size_t next = from;
  for (;;) {
    for (; next < lines_.size(); ++next) {
      std::smatch m;
      if (std::regex_search(lines_[next], m, re)) {
        LogMatch out{next, {}};
        for (const auto& g : m) out.groups.push_back(g.str());
        return out;
      }
    }
    if (eof_) return std::nullopt;
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout && next == lines_.size()) return std::nullopt;
  }
}

std::size_t BatonProcess::count(const std::string& pattern, std::size_t from) const {
  std::regex re(pattern);
  std::lock_guard<std::mutex> lock(mu_);
  std::size_t n = 0;
  for (std::size_t i = from; i < lines_.size(); ++i)
    if (std::regex_search(lines_[i], re)) ++n;
  return n;
}

std::string BatonProcess::log() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& l : lines_) out += l + "\n";
  return out;
}

std::uint16_t BatonProcess::port(const std::string& name) const {
  auto m = wait_for("listening " + name + "=tcp://[^ ]*:([0-9]+)");
  if (!m) throw std::runtime_error("baton never said it was listening on " + name + "\n" + log());
  return static_cast<std::uint16_t>(std::stoi(m->groups[1]));
}

void BatonProcess::signal(int signum) const { ::kill(pid_, signum); }

std::optional<int> BatonProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (reaped_) return exit_code_;
  baton::UniqueFd pidfd = pidfd_open(pid_);
  if (pidfd && !wait_pidfd(pidfd.get(), timeout)) return std::nullopt;
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_code_;
}

bool wait_process_gone(pid_t pid, std::chrono::milliseconds timeout) {
  baton::UniqueFd pidfd = pidfd_open(pid);
  if (!pidfd) return errno == ESRCH;
  return wait_pidfd(pidfd.get(), timeout);
}

}  // namespace testing_support
