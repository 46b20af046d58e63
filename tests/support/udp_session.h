// UdpSession: one udpsession session from the client's side (its own UDP
// socket on 127.0.0.1), for tests and benchmarks. Every request waits for
// its answer; a lost datagram is sent again (a few times), as a real client
// of a protocol over UDP would. What counts as broken is what a client
// would see: an answer from a process without the session (UNKNOWN,
// BADSEQ), or none at all.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "baton/status.h"
#include "baton/unique_fd.h"
#include "support/flow_load.h"

namespace testing_support {

struct SessionAnswer {
  std::string who;  // "<gen>.<index>" of the worker that answered
  std::chrono::microseconds rtt{0};  // of the try that was answered
  int tries = 1;
};

class UdpSession {
 public:
  struct Options {
    std::uint16_t port = 0;
    std::chrono::milliseconds retry_after{300};
    int tries = 6;
  };
  // OPEN; the answer names the worker that holds it now.
  static baton::Result<UdpSession> open(const Options& options, SessionAnswer* answer = nullptr);
  // DATA with the next sequence number; an error says how it broke.
  baton::Result<SessionAnswer> data();
  baton::Status close();
  const std::string& id() const { return id_; }
  std::uint64_t generation_opened() const { return generation_; }

 private:
  UdpSession(Options options, baton::UniqueFd fd) : options_(options), fd_(std::move(fd)) {}
  // Sends `request` until an answer starting with one of `expect` (or a
  // failure word: UNKNOWN, BADSEQ, ERROR) comes back for it.
  baton::Result<std::pair<std::string, SessionAnswer>> ask(const std::string& request, const std::string& match);

  Options options_;
  baton::UniqueFd fd_;
  std::string id_;
  std::uint64_t generation_ = 0;
  std::uint64_t seq_ = 0;
};

// One udpsession session for FlowLoad: OPEN, `data` DATA `gap` apart, CLOSE.
baton::Result<FlowOpening> run_session(std::uint16_t port, int data, std::chrono::milliseconds gap);

// STATS from whichever worker reads it: "gen=2 index=0 ... forwarded=…".
std::optional<std::string> session_stats(std::uint16_t port);
// One "name=value" field of a STATS line, -1 if absent.
long stats_field(const std::string& stats, const std::string& name);

}  // namespace testing_support
