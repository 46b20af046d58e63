// The test binary. `baton_tests --helper MODE` runs a misbehaving worker
// instead (helper_worker.cc); everything else is GoogleTest.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <string>

#include "helper_worker.h"

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "--helper") return testing_support::run_helper(argv[2]);
  // The channel tests pass ~1,000 fds at once; fds in flight count against this limit.
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  // Unit tests drive the supervisor in-process: keep its info lines out of the report.
  spdlog::set_level(spdlog::level::warn);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
