#include "integration/udp_fixture.h"

#include <csignal>
#include <thread>

#include "integration/fixture.h"

namespace testing_support {

using Clock = std::chrono::steady_clock;

std::vector<std::string> udp_args(const std::string& worker, std::vector<std::string> extra,
                                  std::vector<std::string> worker_args) {
  std::vector<std::string> args{"--listen", "udp=udp://127.0.0.1:0"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back("--");
  args.push_back(worker);
  args.insert(args.end(), worker_args.begin(), worker_args.end());
  return args;
}

std::uint16_t udp_port(const BatonProcess& baton) {
  auto m = baton.wait_for("listening udp=udp://127\\.0\\.0\\.1:([0-9]+)");
  return m ? static_cast<std::uint16_t>(std::stoi(m->groups[1])) : 0;
}

::testing::AssertionResult flows_end(const FlowLoad& flows, std::uint64_t more, bool or_broken) {
  auto ended = [&] { return or_broken ? flows.finished() : flows.completed(); };
  const auto base = ended();
  for (const auto until = Clock::now() + std::chrono::seconds(30); ended() < base + more;) {
    if (Clock::now() > until) return ::testing::AssertionFailure() << "flows stuck: too few ended in 30 s";
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling a counter
  }
  return ::testing::AssertionSuccess();
}

std::vector<Clock::time_point> upgrade_every_second(BatonProcess& baton, int upgrades) {
  std::vector<Clock::time_point> served{Clock::now()};
  auto next = Clock::now();
  for (int g = 2; g <= upgrades + 1; ++g) {
    std::this_thread::sleep_until(next);
    next += std::chrono::seconds(1);
    const auto mark = baton.mark();
    baton.signal(SIGHUP);
    EXPECT_TRUE(wait_serving(baton, g, mark));
    served.push_back(Clock::now());
  }
  return served;
}

std::size_t opened_on_older_generation(const std::vector<FlowOpening>& openings,
                                       const std::vector<Clock::time_point>& served, std::chrono::milliseconds margin) {
  std::size_t late = 0;
  for (const auto& o : openings)
    for (std::size_t g = served.size(); g-- > 1;)
      if (o.at > served[g] + margin) {
        if (o.generation < g + 1) ++late;
        break;
      }
  return late;
}

}  // namespace testing_support
