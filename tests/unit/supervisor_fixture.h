// The fixture of the supervisor's unit tests (supervisor_test.cc,
// rolling_test.cc): a real libuv loop, fake workers, options to set before
// start().
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "supervisor.h"
#include "support/fake_workers.h"

namespace baton {

using testing_support::FakeLauncher;
using testing_support::FakeWorker;

using namespace std::chrono_literals;

class SupervisorTest : public ::testing::Test {
 protected:
  SupervisorTest() {
    uv_loop_init(&loop_);
    options_.command = {"/srv/app"};
    options_.workers = 2;
  }
  ~SupervisorTest() override {
    supervisor_.reset();
    // The first run only clears a uv_stop() the supervisor made outside
    // uv_run (the test calls its handlers directly); the second runs the
    // close callbacks.
    uv_run(&loop_, UV_RUN_NOWAIT);
    uv_run(&loop_, UV_RUN_NOWAIT);
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }

  Supervisor& start() {
    supervisor_ = std::make_unique<Supervisor>(&loop_, options_, launcher_);
    EXPECT_TRUE(supervisor_->start());
    return *supervisor_;
  }
  void ready_generation(std::uint64_t g) {
    for (std::uint32_t i = 0; i < options_.workers; ++i) launcher_.worker(g, i)->become_ready();
  }
  // Generation g's workers finish draining and exit.
  void exit_generation(std::uint64_t g) {
    for (std::uint32_t i = 0; i < options_.workers; ++i) launcher_.worker(g, i)->exit();
  }
  Supervisor& serving() {
    Supervisor& s = start();
    ready_generation(1);
    EXPECT_EQ(s.state(), Supervisor::State::kServing);
    return s;
  }
  // Runs the loop until `done` holds (timers fire); bounded.
  template <class F> bool run_until(F done) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      uv_run(&loop_, UV_RUN_ONCE);
    }
    return true;
  }

  uv_loop_t loop_;
  Options options_;
  FakeLauncher launcher_;
  std::unique_ptr<Supervisor> supervisor_;
};

}  // namespace baton
