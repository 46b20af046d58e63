// Shared pieces of the integration tests: a worker path that tests swap
// between builds (as `cp new-build /srv/app` would), and kvstore queries.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "support/baton_process.h"
#include "support/files.h"
#include "support/http_client.h"
#include "support/load_client.h"

namespace testing_support {

// A private directory whose `worker` script is what baton runs (kvstore
// unless a test swaps it). Scripts exec the real binary, so baton sees the
// binary's own pid.
class WorkerDir {
 public:
  WorkerDir();
  ~WorkerDir();
  const std::string& worker() const { return worker_; }
  void use_kvstore();
  void use_helper(const std::string& mode);
  // Any shell script body; it should end by exec'ing the worker.
  void use_script(const std::string& body);
  void remove_worker();

 private:
  void install(const std::string& script);
  TempDir dir_;
  std::string worker_;
};

// `baton run --listen http=tcp://127.0.0.1:0 EXTRA... -- <dir's worker>`
std::vector<std::string> baton_args(const WorkerDir& dir, std::vector<std::string> extra = {});
// The http port, once generation 1 serves (a test failure, and 0, if it never does).
std::uint16_t serving_port(const BatonProcess& baton);

struct Stats {
  long pid = -1;
  long generation = -1;
};
// GET /stats on a fresh connection; fails the test on error.
Stats get_stats(std::uint16_t port);

// Waits for "generation G serving" (start) or "upgrade to generation G complete".
::testing::AssertionResult wait_serving(const BatonProcess& baton, std::uint64_t generation, std::size_t from = 0);
// The pid baton logged for worker G.I when it became ready.
pid_t ready_pid(const BatonProcess& baton, std::uint64_t generation, std::uint32_t index = 0, std::size_t from = 0);

// Waits until the load client has completed `more` requests beyond now:
// proof that traffic flows at this point of the test.
::testing::AssertionResult traffic_flows(const LoadClient& load, std::uint64_t more);

// The port of baton's --metrics listener, from its log (0 if it never says).
std::uint16_t metrics_port(const BatonProcess& baton);
// The value of one sample line ("name{labels} value") in an exposition, -1 if absent.
double metric_sample(const std::string& exposition, const std::string& series);

// Reads every acknowledged write back; fails the test for each one lost.
void expect_all_acknowledged_writes(std::uint16_t port, const LoadStats& stats);

}  // namespace testing_support
