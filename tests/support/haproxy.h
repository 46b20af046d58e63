// Haproxy: a real HAProxy (Debian's package) run by a test with a config
// from deploy/haproxy/, its addresses given through the environment, and its
// per-server state read back from its stats socket ("show stat").
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/child_process.h"

namespace testing_support {

struct HaproxyServer {
  std::string status;        // "UP", "DOWN", "DOWN 1/2" (rising), "UP 1/1" (falling), ...
  long times_down = 0;       // chkdown: UP -> DOWN transitions
  long retries = 0;          // wretr: requests retried on this server
  long redispatches = 0;     // wredis: requests sent to another server instead
  bool up() const { return status == "UP"; }
  bool down() const { return status.rfind("DOWN", 0) == 0; }
};

class Haproxy {
 public:
  // Starts `haproxy -db -f CONFIG` with `env` (NAME=VALUE each) added, its
  // output in LOG. The config must put its stats socket at `stats_socket`.
  Haproxy(const std::string& config, const std::vector<std::string>& env, std::string stats_socket,
          const std::string& log);
  // The servers of `backend` by name; nullopt while the stats socket does not answer.
  std::optional<std::map<std::string, HaproxyServer>> servers(const std::string& backend) const;
  std::string log() const { return process_->log(); }
  pid_t pid() const { return process_->pid(); }

 private:
  std::string stats_socket_;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace testing_support
