// FlowLoad: long-lived flows (udpsession sessions, QUIC connections) run
// from a few threads, one after another on each, by a function that runs
// one flow to its end. Bounded: stop() lets every thread finish the flow it
// is in (so no flow is cut by the test itself), and every thread stops by
// itself after max_duration.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "baton/status.h"

namespace testing_support {

// How a flow began: when its first request went out, and the generation that held it.
struct FlowOpening {
  std::chrono::steady_clock::time_point at;
  std::uint64_t generation = 0;
  std::uint64_t answered = 0;  // requests answered by the worker holding it
};
// Runs one flow to its end; an error says how it broke.
using OneFlow = std::function<baton::Result<FlowOpening>()>;

struct FlowStats {
  std::uint64_t completed = 0, broken = 0;
  std::uint64_t answered = 0;             // over the completed flows
  std::vector<std::string> first_errors;  // up to 20
  std::vector<FlowOpening> openings;      // of the completed flows
};

class FlowLoad {
 public:
  FlowLoad(int threads, OneFlow flow, std::chrono::seconds max_duration = std::chrono::seconds(120));
  ~FlowLoad() { stop(); }
  std::uint64_t completed() const { return completed_.load(); }
  std::uint64_t finished() const { return finished_.load(); }  // completed or broken
  FlowStats stop();  // idempotent

 private:
  void run();

  OneFlow flow_;
  std::chrono::steady_clock::time_point deadline_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> completed_{0}, finished_{0};
  std::mutex mu_;
  FlowStats stats_;
  std::vector<std::thread> threads_;
};

}  // namespace testing_support
