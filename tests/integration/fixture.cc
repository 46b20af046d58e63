#include "integration/fixture.h"

#include <unistd.h>

#include <filesystem>
#include <thread>
#include <fstream>

#include "helper_worker.h"

namespace testing_support {

WorkerDir::WorkerDir() : worker_(dir_.path() + "/worker") { use_kvstore(); }

WorkerDir::~WorkerDir() = default;

void WorkerDir::install(const std::string& script) {
  // Write then rename: a spawn never sees a half-written file.
  std::string tmp = dir_.path() + "/worker.tmp";
  {
    std::ofstream out(tmp);
    out << "#!/bin/sh\n" << script << "\n";
  }
  std::filesystem::permissions(tmp, std::filesystem::perms::owner_all);
  std::filesystem::rename(tmp, worker_);
}

void WorkerDir::use_kvstore() { install(std::string("exec ") + KVSTORE_BIN + " \"$@\""); }
void WorkerDir::use_script(const std::string& body) { install(body); }
void WorkerDir::use_helper(const std::string& mode) { install("exec " + self_exe() + " --helper " + mode); }
void WorkerDir::remove_worker() { std::filesystem::remove(worker_); }

std::vector<std::string> baton_args(const WorkerDir& dir, std::vector<std::string> extra) {
  std::vector<std::string> args{"--listen", "http=tcp://127.0.0.1:0"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back("--");
  args.push_back(dir.worker());
  return args;
}

std::uint16_t serving_port(const BatonProcess& baton) {
  const std::uint16_t port = baton.port();
  if (!wait_serving(baton, 1)) {
    ADD_FAILURE() << "generation 1 never served. Log:\n" << baton.log();
    return 0;
  }
  return port;
}

Stats get_stats(std::uint16_t port) {
  auto r = http_request(port, "GET", "/stats");
  EXPECT_TRUE(r) << r.status().message();
  if (!r) return {};
  EXPECT_EQ(r->status, 200);
  return {json_field(r->body, "pid"), json_field(r->body, "generation")};
}

::testing::AssertionResult wait_serving(const BatonProcess& baton, std::uint64_t g, std::size_t from) {
  std::string n = std::to_string(g);
  if (baton.wait_for("(generation " + n + " serving|upgrade to generation " + n + " complete)", from))
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "generation " << n << " never started serving. Log:\n" << baton.log();
}

pid_t ready_pid(const BatonProcess& baton, std::uint64_t g, std::uint32_t index, std::size_t from) {
  auto m = baton.wait_for("worker " + std::to_string(g) + "\\." + std::to_string(index) + " \\(pid ([0-9]+)\\) ready", from);
  return m ? static_cast<pid_t>(std::stol(m->groups[1])) : -1;
}

std::uint16_t metrics_port(const BatonProcess& baton) {
  auto m = baton.wait_for("metrics at http://127.0.0.1:([0-9]+)/metrics");
  return m ? static_cast<std::uint16_t>(std::stoi(m->groups[1])) : 0;
}

double metric_sample(const std::string& exposition, const std::string& series) {
  const auto at = exposition.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(exposition.substr(at + series.size() + 2));
}

::testing::AssertionResult traffic_flows(const LoadClient& load, std::uint64_t more) {
  auto base = load.completed();
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (load.completed() < base + more) {
    if (std::chrono::steady_clock::now() > deadline)
      return ::testing::AssertionFailure() << "no traffic: stuck at " << load.completed() << " requests";
    std::this_thread::yield();
  }
  return ::testing::AssertionSuccess();
}

void expect_all_acknowledged_writes(std::uint16_t port, const LoadStats& stats) {
  auto conn = connect_local(port);
  ASSERT_TRUE(conn) << conn.status().message();
  std::size_t lost = 0;
  for (const auto& [key, value] : stats.acknowledged) {
    auto r = exchange(conn->get(), "GET", "/kv/" + key);
    ASSERT_TRUE(r) << r.status().message();
    if (r->status != 200 || r->body != value) ++lost;
  }
  EXPECT_EQ(lost, 0u) << "of " << stats.acknowledged.size() << " acknowledged writes";
}

}  // namespace testing_support
