// SystemdNotifier: baton's side of sd_notify(3), so that Type=notify and
// Type=notify-reload units know when baton serves and when an upgrade ends:
//
//   READY=1                       the first generation serves; an upgrade ended
//   RELOADING=1 MONOTONIC_USEC=   an upgrade began (systemctl reload waits for READY)
//   STOPPING=1                    a stop began
//   STATUS=...                    one line for `systemctl status`: who serves, the last upgrade
//
// The protocol is one datagram of "KEY=VALUE\n" lines to the unix socket
// NOTIFY_SOCKET names (a path, or "@name" in the abstract namespace), so it
// is written here rather than linked from libsystemd. A lost datagram is
// logged and never stops baton.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <memory>
#include <string>

#include "baton/unique_fd.h"
#include "supervisor_observer.h"

namespace baton {

class SystemdNotifier final : public SupervisorObserver {
 public:
  // From NOTIFY_SOCKET, which it unsets so that workers do not see it. Null
  // when baton does not run under a notify-type unit.
  static std::unique_ptr<SystemdNotifier> from_environment();

  void serving(std::uint64_t generation) override;
  void upgrade_started(const UpgradeRecord& upgrade) override;
  void upgrade_finished(const UpgradeRecord& upgrade) override;
  void stopping() override;

  // Sends one notification; false (and a warning) if it could not.
  bool send(const std::string& message);
  // NOTIFY_SOCKET as it was given (baton upgrade --self passes it on).
  const std::string& path() const { return path_; }

 private:
  SystemdNotifier(UniqueFd fd, const sockaddr_un& addr, socklen_t length, std::string path)
      : fd_(std::move(fd)), addr_(addr), length_(length), path_(std::move(path)) {}

  UniqueFd fd_;
  sockaddr_un addr_;
  socklen_t length_;
  std::string path_;
};

}  // namespace baton
