#include "worker_executable.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "baton/unique_fd.h"

namespace baton {
namespace {

// Where execvp would look for `name`: itself if it has a slash, else each
// $PATH entry in turn (the first that exists wins).
std::string locate(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  for (std::size_t start = 0; start <= dirs.size();) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string_view::npos) end = dirs.size();
    std::string dir(dirs.substr(start, end - start));
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), F_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

// A binary (ELF) or a script with a #! line: what the kernel itself runs.
bool kernel_runs(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return true;  // unreadable but executable: let exec decide
  char head[4] = {};
  const ssize_t n = ::read(fd.get(), head, sizeof head);
  return (n >= 2 && head[0] == '#' && head[1] == '!') || (n == 4 && std::memcmp(head, "\x7f" "ELF", 4) == 0);
}

}  // namespace

Result<std::string> resolve_executable(const std::string& name) {
  const std::string context = "start worker " + name;
  const std::string path = locate(name);
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0)
    return Status::from_errno(path.empty() ? ENOENT : errno, context);
  if (S_ISDIR(st.st_mode)) return Status::from_errno(EISDIR, context);
  if (!S_ISREG(st.st_mode) || ::access(path.c_str(), X_OK) != 0) return Status::from_errno(EACCES, context);
  if (!kernel_runs(path)) return Status::from_errno(ENOEXEC, context);
  return path;
}

}  // namespace baton

namespace baton {

std::string exec_error_hint(int err) {
  switch (err) {
    case ENOENT: return "check the path; it is looked up again at every upgrade";
    case EACCES: return "make it executable (chmod +x) and check the directories on its path";
    case ENOEXEC: return "it is neither a binary nor a script with a #! line; add one (#!/bin/sh)";
    case EISDIR: return "give the path of the worker's executable, not of its directory";
    case EMFILE:
    case ENFILE: return "the open-files limit is reached";
    case EAGAIN:
    case ENOMEM: return "the system is out of processes or memory";
    default: return "check the worker command";
  }
}

Result<std::shared_ptr<const HeldExecutable>> HeldExecutable::open(const std::string& name) {
  auto path = resolve_executable(name);
  if (!path) return path.status().with_hint(exec_error_hint(path.status().error_number()));
  UniqueFd fd(::open(path->c_str(), O_PATH | O_CLOEXEC));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0)
    return Status::from_errno(errno, "hold the worker's executable " + *path).with_hint(exec_error_hint(errno));
  return std::shared_ptr<const HeldExecutable>(new HeldExecutable(std::move(fd), *path, st.st_dev, st.st_ino));
}

std::shared_ptr<const HeldExecutable> HeldExecutable::adopt(UniqueFd fd, std::string path) {
  ::fcntl(fd.get(), F_SETFD, FD_CLOEXEC);
  struct stat st {};
  ::fstat(fd.get(), &st);
  return std::shared_ptr<const HeldExecutable>(new HeldExecutable(std::move(fd), std::move(path), st.st_dev, st.st_ino));
}

bool HeldExecutable::on_disk() const {
  struct stat st {};
  return ::stat(path_.c_str(), &st) == 0 && st.st_dev == device_ && st.st_ino == inode_;
}

std::string HeldExecutable::exec_path() const {
  if (on_disk()) return path_;
  return "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(fd_.get());
}

}  // namespace baton
