// `baton status`, `baton upgrade` and `baton stop`: clients of a running
// baton's control socket (control_client.h). Each returns its exit code.
#pragma once

#include <chrono>
#include <string>

namespace baton {

struct ClientOptions {
  std::string name;     // --name: the socket of that baton in the default directory
  std::string control;  // --control PATH: exactly this socket
  bool json = false;    // status --json
  bool ready = false;   // status --ready
  bool wait = false;    // upgrade --wait, stop --wait
  bool fast = false;    // stop --fast
  bool self = false;    // upgrade --self: baton itself, re-executed in place
  std::chrono::milliseconds timeout{0};  // --timeout for --wait; 0: as long as it takes
};

// Exit codes of the client commands (also in their --help and docs/operating.md).
namespace client_exit {
inline constexpr int kOk = 0;           // done (upgrade --wait: that upgrade committed)
inline constexpr int kFailed = 1;       // the upgrade failed and was rolled back, or baton refused the request
inline constexpr int kUsage = 2;        // bad command line
inline constexpr int kUnreachable = 3;  // no baton answers on the control socket
inline constexpr int kTimedOut = 4;     // --timeout passed first; the upgrade or stop goes on
inline constexpr int kNoMemory = 5;     // the upgrade was refused: it would not fit in the memory limit
}  // namespace client_exit

int run_status(const ClientOptions& options);
int run_upgrade(const ClientOptions& options);
int run_stop(const ClientOptions& options);

}  // namespace baton
