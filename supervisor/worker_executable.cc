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
