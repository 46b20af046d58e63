#include "support/udp_flows.h"

namespace testing_support {

UdpFlows::UdpFlows(Options options)
    : options_(options), deadline_(std::chrono::steady_clock::now() + options.max_duration) {
  for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { run(); });
}

UdpFlowStats UdpFlows::stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
  std::lock_guard lock(mu_);
  return stats_;
}

void UdpFlows::run() {
  while (!stop_ && std::chrono::steady_clock::now() < deadline_) {
    SessionAnswer opened;
    auto session = UdpSession::open({.port = options_.port}, &opened);
    if (!session) {
      record({}, true, 0, "OPEN: " + session.status().message());
      continue;
    }
    // When the OPEN that was answered went out: the generation that holds it was serving then.
    const UdpFlowStats::Opening opening{std::chrono::steady_clock::now() - opened.rtt, session->generation_opened()};
    std::uint64_t answered = 0;
    std::string error;
    for (int i = 0; i < options_.data_per_flow && error.empty(); ++i) {
      if (auto a = session->data()) ++answered;
      else error = a.status().message();
      std::this_thread::sleep_for(options_.gap);  // the flow's pace, not a wait for an event
    }
    if (error.empty())
      if (auto st = session->close(); !st) error = st.message();
    record(opening, !error.empty(), answered, "session " + session->id() + ": " + error);
  }
}

void UdpFlows::record(const UdpFlowStats::Opening& opening, bool broke, std::uint64_t answered,
                      const std::string& error) {
  std::lock_guard lock(mu_);
  ++finished_;
  stats_.answered += answered;
  if (opening.generation != 0) {
    ++stats_.opened;
    stats_.openings.push_back(opening);
  }
  if (broke) {
    ++stats_.broken;
    if (stats_.first_errors.size() < 20) stats_.first_errors.push_back(error);
  } else {
    ++stats_.completed;
    ++completed_;
  }
}

}  // namespace testing_support
