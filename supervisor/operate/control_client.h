// The client side of the control socket (control_server.h), for `baton
// status`, `baton upgrade` and `baton stop`: blocking, one request per
// connection, bounded by a timeout.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "baton/status.h"
#include "baton/unique_fd.h"

namespace baton {

class ControlClient {
 public:
  // Errors say which socket was tried and how to point elsewhere.
  static Result<ControlClient> connect(const std::string& path);

  // Sends `request` as one line and reads baton's one-line JSON reply.
  // A zero timeout waits for as long as it takes.
  Result<nlohmann::json> ask(const std::string& request, std::chrono::milliseconds timeout);
  // Waits until baton closes the connection, which it does when it exits.
  // False if `timeout` (non-zero) passed first.
  bool wait_closed(std::chrono::milliseconds timeout);

 private:
  ControlClient(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  // baton's one-line JSON reply.
  Result<nlohmann::json> read_reply(std::chrono::milliseconds timeout);
  // Waits for the fd to be readable; false on timeout.
  bool wait_readable(std::chrono::steady_clock::time_point deadline, bool bounded);

  UniqueFd fd_;
  std::string path_;
};

}  // namespace baton
