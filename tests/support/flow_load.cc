#include "support/flow_load.h"

namespace testing_support {

FlowLoad::FlowLoad(int threads, OneFlow flow, std::chrono::seconds max_duration)
    : flow_(std::move(flow)), deadline_(std::chrono::steady_clock::now() + max_duration) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

FlowStats FlowLoad::stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
  std::lock_guard lock(mu_);
  return stats_;
}

void FlowLoad::run() {
  while (!stop_ && std::chrono::steady_clock::now() < deadline_) {
    auto outcome = flow_();
    std::lock_guard lock(mu_);
    ++finished_;
    if (!outcome) {
      ++stats_.broken;
      if (stats_.first_errors.size() < 20) stats_.first_errors.push_back(outcome.status().message());
      continue;
    }
    ++stats_.completed;
    ++completed_;
    stats_.answered += outcome->answered;
    stats_.openings.push_back(*outcome);
  }
}

}  // namespace testing_support
