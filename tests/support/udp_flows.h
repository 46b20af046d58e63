// UdpFlows: a load of long-lived udpsession sessions from a few threads,
// each opening a session, sending `data_per_flow` DATA `gap` apart, and
// closing it, over and over. Bounded: stop() lets every thread finish the
// session it is in (so no session is cut by the test itself), and every
// thread stops by itself after max_duration.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/udp_session.h"

namespace testing_support {

struct UdpFlowStats {
  std::uint64_t opened = 0, completed = 0, broken = 0;
  std::uint64_t answered = 0;  // DATA answered by the worker holding the session
  std::vector<std::string> first_errors;  // up to 20
  // Each session's opening: when the answered OPEN was sent, and the generation that holds it.
  struct Opening {
    std::chrono::steady_clock::time_point at;
    std::uint64_t generation = 0;
  };
  std::vector<Opening> openings;
};

class UdpFlows {
 public:
  struct Options {
    std::uint16_t port = 0;
    int threads = 4;
    int data_per_flow = 40;
    std::chrono::milliseconds gap{25};
    std::chrono::seconds max_duration{120};
  };
  explicit UdpFlows(Options options);
  ~UdpFlows() { stop(); }
  std::uint64_t completed() const { return completed_.load(); }
  std::uint64_t finished() const { return finished_.load(); }  // completed or broken
  UdpFlowStats stop();  // idempotent

 private:
  void run();
  void record(const UdpFlowStats::Opening& opening, bool broke, std::uint64_t answered, const std::string& error);

  Options options_;
  std::chrono::steady_clock::time_point deadline_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> completed_{0}, finished_{0};
  std::mutex mu_;
  UdpFlowStats stats_;
  std::vector<std::thread> threads_;
};

}  // namespace testing_support
