#include "socket_activation.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <string_view>

namespace baton {
namespace {

constexpr int kFirstFd = 3;  // SD_LISTEN_FDS_START

bool parse_number(const char* text, long& out) {
  if (text == nullptr) return false;
  std::string_view s(text);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

Result<std::vector<ActivatedSocket>> take_activated_sockets() {
  std::vector<ActivatedSocket> out;
  const char* pid_text = std::getenv("LISTEN_PID");
  const char* fds_text = std::getenv("LISTEN_FDS");
  const char* names_text = std::getenv("LISTEN_FDNAMES");
  std::string names = names_text ? names_text : "";
  long pid = 0, count = 0;
  const bool ours = parse_number(pid_text, pid) && pid == ::getpid();
  for (const char* var : {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"}) ::unsetenv(var);
  if (!ours) return out;  // not activated, or meant for another process
  if (!parse_number(fds_text, count) || count < 0 || count > 4096)
    return Status::error(std::string("LISTEN_FDS=\"") + (fds_text ? fds_text : "") + "\" is not a count of fds");
  std::vector<std::string> split;
  for (std::size_t start = 0; !names.empty() && start <= names.size();) {
    auto colon = names.find(':', start);
    split.push_back(names.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  for (long i = 0; i < count; ++i) {
    const int fd = kFirstFd + static_cast<int>(i);
    if (::fcntl(fd, F_GETFD) < 0)
      return Status::error("LISTEN_FDS says " + std::to_string(count) + " fds but fd " + std::to_string(fd) + " is not open");
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);  // only baton's spawn code passes fds on
    std::string name = static_cast<std::size_t>(i) < split.size() && !split[i].empty() ? split[i]
                                                                                      : "listen" + std::to_string(i);
    out.push_back({std::move(name), UniqueFd(fd)});
  }
  return out;
}

}  // namespace baton
