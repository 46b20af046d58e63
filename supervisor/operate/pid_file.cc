#include "pid_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "baton/unique_fd.h"

namespace baton {

Result<PidFile> PidFile::create(const std::string& path) {
  // A fresh, unpredictable name beside the target (mkostemp: O_CREAT|O_EXCL,
  // so a link planted there is never followed), then rename() over the
  // target, which replaces a link rather than writing through it.
  std::string tmp = path + ".XXXXXX";
  const std::string content = std::to_string(::getpid()) + "\n";
  {
    UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
    if (!fd) return Status::from_errno(errno, "write pid file " + path).with_hint("check that the directory exists and is writable");
    if (::fchmod(fd.get(), 0644) != 0 ||
        ::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
      int err = errno;
      ::unlink(tmp.c_str());
      return Status::from_errno(err, "write pid file " + tmp);
    }
  }
  // rename() is atomic: a reader never sees a half-written pid.
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Status::from_errno(err, "rename pid file to " + path);
  }
  return PidFile(path);
}

PidFile::~PidFile() {
  if (path_.empty()) return;
  std::ifstream in(path_);
  std::ostringstream s;
  s << in.rdbuf();
  if (s.str() == std::to_string(::getpid()) + "\n") ::unlink(path_.c_str());
}

}  // namespace baton
