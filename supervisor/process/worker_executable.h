// Finding the worker's executable before each spawn, the way execvp would
// ($PATH for a bare name), and saying clearly what execvp does not: a
// directory, a file without execute permission, or a file that is neither a
// binary nor a #! script (which glibc's execvp would hand to /bin/sh). And
// holding on to the file a generation was started from.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "baton/status.h"
#include "baton/unique_fd.h"
#include "worker_handle.h"

namespace baton {

// The path to exec. Errors carry ENOENT, EISDIR, EACCES or ENOEXEC.
Result<std::string> resolve_executable(const std::string& name);

// What to do about a failed start, by its errno ("make it executable ...").
std::string exec_error_hint(int err);

// The file a generation was started from, held open, so that a rollback
// (--probation) starts that very file again even after a deploy replaced or
// deleted it on disk.
class HeldExecutable final : public HeldFile {
 public:
  // Resolves `name` as resolve_executable() does and opens it (O_PATH).
  static Result<std::shared_ptr<const HeldExecutable>> open(const std::string& name);
  // One held already (baton upgrade --self), as `path` named it then.
  static std::shared_ptr<const HeldExecutable> adopt(UniqueFd fd, std::string path);

  const std::string& path() const override { return path_; }
  int fd() const override { return fd_.get(); }
  // True while path() still names the held file.
  bool on_disk() const override;
  // What to exec: path() while it names the held file (the process keeps its
  // usual name); else the held fd, as /proc/<baton's pid>/fd/N, which a #!
  // script's interpreter can open too.
  std::string exec_path() const override;

 private:
  HeldExecutable(UniqueFd fd, std::string path, dev_t device, ino_t inode)
      : fd_(std::move(fd)), path_(std::move(path)), device_(device), inode_(inode) {}
  UniqueFd fd_;
  std::string path_;
  dev_t device_;
  ino_t inode_;
};

}  // namespace baton
