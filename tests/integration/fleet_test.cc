// A fleet behind a real HAProxy (Debian's package), configured by
// deploy/haproxy/haproxy.cfg itself: three "hosts" (baton + kvstore, each on
// its own ports of 127.0.0.1), a load client going through HAProxy, and the
// operations of deploy/haproxy/README.md: a rolling upgrade in drain mode, a
// rolling restart (which also switches the hosts to handoff mode), a rolling
// upgrade in handoff mode. Not one request may fail, upgrades must never take
// a host out of rotation, and restarts must, each host once.
#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <memory>

#include "integration/fixture.h"
#include "support/command.h"
#include "support/haproxy.h"

namespace testing_support {
namespace {

// One host: its ports stay the same across restarts, as a real host's do.
struct Host {
  std::string name;
  std::uint16_t http = free_local_port();
  std::uint16_t admin = free_local_port();
  std::unique_ptr<BatonProcess> baton;

  void start(const WorkerDir& dir, const std::string& mode) {
    // stop_delay above the config's worst case to notice (inter 1s + timeout check 2s).
    baton = std::make_unique<BatonProcess>(std::vector<std::string>{
        "--listen", "http=tcp://127.0.0.1:" + std::to_string(http), "--metrics",
        "tcp://127.0.0.1:" + std::to_string(admin), "--mode", mode, "--stop-delay", "5s", "--drain-timeout", "10s",
        "--", dir.worker()});
    ASSERT_TRUE(wait_serving(*baton, 1)) << baton->log();
  }
};

class Fleet : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_program("haproxy")) GTEST_SKIP() << "haproxy not found: apt-get install haproxy";
    for (std::size_t i = 0; i < hosts_.size(); ++i) {
      hosts_[i].name = "host" + std::to_string(i + 1);
      hosts_[i].start(dir_, "drain");
    }
    std::vector<std::string> env{"BATON_FRONTEND=127.0.0.1:" + std::to_string(frontend_),
                                 "BATON_STATS=127.0.0.1:" + std::to_string(free_local_port()),
                                 "BATON_STATS_SOCKET=" + socket_path_};
    for (const auto& h : hosts_) {
      const std::string upper = "BATON_HOST" + h.name.substr(4);
      env.push_back(upper + "=127.0.0.1");
      env.push_back(upper + "_HTTP=" + std::to_string(h.http));
      env.push_back(upper + "_ADMIN=" + std::to_string(h.admin));
    }
    haproxy_ = std::make_unique<Haproxy>(std::string(BATON_SOURCE_DIR) + "/deploy/haproxy/haproxy.cfg", env,
                                         socket_path_, log_path_);
    ASSERT_TRUE(eventually([&] { return all_up(); })) << haproxy_->log();
  }
  void TearDown() override {
    haproxy_.reset();
    std::filesystem::remove(log_path_);
    std::filesystem::remove(socket_path_);
  }

  bool all_up() const {
    auto servers = haproxy_->servers("kvstore");
    if (!servers || servers->size() != hosts_.size()) return false;
    for (const auto& [name, s] : *servers)
      if (!s.up()) return false;
    return true;
  }
  HaproxyServer server(const std::string& name) const {
    auto servers = haproxy_->servers("kvstore");
    return servers && servers->count(name) ? servers->at(name) : HaproxyServer{};
  }

  void rolling_upgrade(const LoadClient& load, std::uint64_t generation) {
    for (auto& h : hosts_) {
      ASSERT_TRUE(traffic_flows(load, 100));
      auto r = run_baton({"upgrade", "--wait", "--control", h.baton->control_path()});
      ASSERT_EQ(r.exit_code, 0) << h.name << ": " << r.describe();
      ASSERT_TRUE(wait_serving(*h.baton, generation)) << h.baton->log();
      EXPECT_TRUE(server(h.name).up()) << h.name << " left rotation during an upgrade";
    }
  }

  // baton stop --wait, then start it again: HAProxy takes it out and back.
  void rolling_restart(const LoadClient& load, const std::string& new_mode) {
    for (auto& h : hosts_) {
      ASSERT_TRUE(traffic_flows(load, 100));
      const long downs_before = server(h.name).times_down;
      auto r = run_baton({"stop", "--wait", "--control", h.baton->control_path()});
      ASSERT_EQ(r.exit_code, 0) << h.name << ": " << r.describe();
      ASSERT_EQ(h.baton->wait_exit(), 0) << h.baton->log();
      EXPECT_TRUE(server(h.name).down()) << h.name << " was not out of rotation once stopped: "
                                         << server(h.name).status;
      EXPECT_EQ(server(h.name).times_down, downs_before + 1) << h.name;
      h.start(dir_, new_mode);
      ASSERT_TRUE(eventually([&] { return server(h.name).up(); })) << h.name << " did not rejoin rotation";
    }
  }

  WorkerDir dir_;
  std::array<Host, 3> hosts_;
  std::uint16_t frontend_ = free_local_port();
  std::string log_path_ = "/tmp/baton-haproxy-" + std::to_string(::getpid()) + ".log";
  std::string socket_path_ = "/tmp/baton-haproxy-" + std::to_string(::getpid()) + ".sock";
  std::unique_ptr<Haproxy> haproxy_;
};

TEST_F(Fleet, RollingUpgradesAndRestartThroughHaproxyFailNoRequest) {
  LoadClient load({.port = frontend_, .keepalive_connections = 4, .close_connections = 2,
                   .max_duration = std::chrono::seconds(240)});
  rolling_upgrade(load, 2);  // drain mode
  rolling_restart(load, "handoff");
  rolling_upgrade(load, 2);  // handoff mode: generation 2 of the restarted batons
  ASSERT_TRUE(traffic_flows(load, 100));
  const LoadStats stats = load.stop();

  long retries = 0, redispatches = 0;
  for (const auto& h : hosts_) {
    const auto s = server(h.name);
    EXPECT_EQ(s.times_down, 1) << h.name << ": out of rotation once, for its restart, and never for an upgrade";
    retries += s.retries;
    redispatches += s.redispatches;
  }
  std::cout << "fleet: " << stats.ok << " requests ok, " << stats.failed << " failed; HAProxy retried " << retries
            << ", redispatched " << redispatches << "\n";
  EXPECT_EQ(stats.failed, 0u) << (stats.first_errors.empty() ? "" : stats.first_errors.front()) << "\n"
                              << haproxy_->log();
  EXPECT_GT(stats.ok, 1000u);
}

}  // namespace
}  // namespace testing_support
