#include "systemd_notify.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "logging.h"

namespace baton {
namespace {

std::string monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::to_string(static_cast<unsigned long long>(ts.tv_sec) * 1'000'000ULL +
                        static_cast<unsigned long long>(ts.tv_nsec) / 1'000ULL);
}

// STATUS= is one line; a failure's reason can be long or contain anything.
std::string status_line(std::string text) {
  text = printable(text);
  if (text.size() > 200) text = text.substr(0, 197) + "...";
  return "STATUS=" + text + "\n";
}

}  // namespace

std::unique_ptr<SystemdNotifier> SystemdNotifier::from_environment() {
  const char* env = std::getenv("NOTIFY_SOCKET");
  if (env == nullptr) return nullptr;
  const std::string path = env;
  ::unsetenv("NOTIFY_SOCKET");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || (path[0] != '/' && path[0] != '@') || path.size() >= sizeof addr.sun_path) {
    spdlog::warn("NOTIFY_SOCKET=\"{}\" is not a unix socket path; systemd will not hear from baton", path);
    return nullptr;
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';  // the abstract namespace
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '/'));
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    spdlog::warn("socket for NOTIFY_SOCKET: {}; systemd will not hear from baton", std::strerror(errno));
    return nullptr;
  }
  return std::unique_ptr<SystemdNotifier>(new SystemdNotifier(std::move(fd), addr, length, path));
}

bool SystemdNotifier::send(const std::string& message) {
  ssize_t n;
  do {
    n = ::sendto(fd_.get(), message.data(), message.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                 reinterpret_cast<const sockaddr*>(&addr_), length_);
  } while (n < 0 && errno == EINTR);
  if (n >= 0) return true;
  spdlog::warn("could not notify systemd ({}): {}", printable(message.substr(0, message.find('\n'))),
               std::strerror(errno));
  return false;
}

void SystemdNotifier::serving(std::uint64_t generation) {
  send("READY=1\n" + status_line("generation " + std::to_string(generation) + " serving"));
}

void SystemdNotifier::upgrade_started(const UpgradeRecord& upgrade) {
  send("RELOADING=1\nMONOTONIC_USEC=" + monotonic_usec() + "\n" +
       status_line("upgrading to generation " + std::to_string(upgrade.candidate)));
}

void SystemdNotifier::upgrade_finished(const UpgradeRecord& u) {
  const std::string who =
      u.serving ? "generation " + std::to_string(u.serving) + " serving" : "no generation serving";
  const std::string last = "upgrade to generation " + std::to_string(u.candidate) +
                           (u.committed() ? " committed" : " failed: " + u.reason);
  send("READY=1\n" + status_line(who + "; last " + last));
}

void SystemdNotifier::stopping() { send("STOPPING=1\n" + status_line("stopping")); }

}  // namespace baton
