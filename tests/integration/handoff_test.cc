// Handoff mode with the real kvstore: the store and the open connections
// move to the new binary; anything wrong before COMMIT puts the old one back.
#include <gtest/gtest.h>
#include <signal.h>

#include "integration/fixture.h"
#include "support/proc.h"

namespace testing_support {
namespace {

std::vector<std::string> handoff_args(const WorkerDir& dir) {
  return baton_args(dir, {"--mode", "handoff", "--handoff-timeout", "20s"});
}

// One upgrade from generation `from` to `to`, waited through to the old one's exit.
::testing::AssertionResult upgrade(const BatonProcess& baton, std::uint64_t from, std::uint64_t to) {
  auto mark = baton.mark();
  baton.signal(SIGHUP);
  if (!baton.wait_for("upgrade to generation " + std::to_string(to) + " complete; handed over", mark))
    return ::testing::AssertionFailure() << "no handoff to generation " << to << ". Log:\n" << baton.log();
  if (!baton.wait_for("generation " + std::to_string(from) + " retired", mark))
    return ::testing::AssertionFailure() << "generation " << from << " never exited. Log:\n" << baton.log();
  return ::testing::AssertionSuccess();
}

TEST(Handoff, TwentyUpgradesLoseNoAcknowledgedWrite) {
  WorkerDir dir;
  BatonProcess baton(handoff_args(dir));
  const auto port = serving_port(baton);
  LoadClient load({.port = port, .keepalive_connections = 4, .close_connections = 0, .writes = true});
  ASSERT_TRUE(traffic_flows(load, 500));
  for (int g = 2; g <= 21; ++g) {
    ASSERT_TRUE(upgrade(baton, g - 1, g));
    ASSERT_TRUE(traffic_flows(load, 300));
  }
  LoadStats stats = load.stop();
  EXPECT_EQ(stats.failed, 0u) << (stats.first_errors.empty() ? "" : stats.first_errors[0]);
  EXPECT_EQ(stats.reconnects, 0u) << "connections move with the state: none is closed";
  expect_all_acknowledged_writes(port, stats);
  // kvstore pre-copies: each store streamed while its writer served, the pause carried the changes.
  const std::string log = baton.log();
  std::size_t precopied = 0;
  for (auto at = log.find("after pre-copying"); at != std::string::npos; at = log.find("after pre-copying", at + 1))
    ++precopied;
  EXPECT_EQ(precopied, 20u) << log;
  auto s = http_request(port, "GET", "/stats");
  ASSERT_TRUE(s);
  EXPECT_EQ(json_field(s->body, "generation"), 21);
  EXPECT_EQ(json_field(s->body, "keys"), static_cast<long>(stats.acknowledged.size()));
  EXPECT_EQ(json_field(s->body, "writes"), static_cast<long>(stats.acknowledged.size()));
  std::printf("[ figures  ] 20 handoff upgrades: %zu acknowledged writes, %llu failed requests, %zu lost\n",
              stats.acknowledged.size(), static_cast<unsigned long long>(stats.failed), std::size_t{0});
}

TEST(Handoff, ThousandConnectionsStayConnectedAcrossTenUpgrades) {
  WorkerDir dir;
  BatonProcess baton(handoff_args(dir));
  const auto port = serving_port(baton);
  std::vector<baton::UniqueFd> conns;
  for (int i = 0; i < 1000; ++i) {
    auto c = connect_local(port);
    ASSERT_TRUE(c) << c.status().message();
    auto r = exchange(c->get(), "PUT", "/kv/conn" + std::to_string(i), std::to_string(i));
    ASSERT_TRUE(r && r->status == 200);
    conns.push_back(std::move(c.value()));
  }
  for (int g = 2; g <= 11; ++g) {
    ASSERT_TRUE(upgrade(baton, g - 1, g));
    EXPECT_TRUE(baton.wait_for("generation " + std::to_string(g) + " complete; handed over [0-9]+ bytes of state and 1000 connections"));
    // Every socket still works, and is served by the new generation.
    for (int i = 0; i < 1000; ++i) {
      auto r = exchange(conns[i].get(), "GET", i % 100 == 0 ? "/stats" : "/kv/conn" + std::to_string(i));
      ASSERT_TRUE(r) << "connection " << i << " after upgrade to " << g << ": " << r.status().message();
      ASSERT_FALSE(r->connection_close);
      if (i % 100 == 0) EXPECT_EQ(json_field(r->body, "generation"), g);
      else EXPECT_EQ(r->body, std::to_string(i));
    }
  }
}

TEST(Handoff, HalfSentRequestIsAnsweredOnceByTheNewWorker) {
  WorkerDir dir;
  BatonProcess baton(handoff_args(dir));
  const auto port = serving_port(baton);
  auto conn = connect_local(port);
  ASSERT_TRUE(conn);
  // One whole request, and the first half of the next, already read by the old worker.
  ASSERT_TRUE(send_all(conn->get(), "PUT /kv/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n1"
                                    "PUT /kv/x HTTP/1.1\r\nHost: x\r\nContent-Len"));
  std::string buffer;
  auto first = read_response(conn->get(), buffer);
  ASSERT_TRUE(first && first->status == 200);
  ASSERT_TRUE(upgrade(baton, 1, 2));
  ASSERT_TRUE(send_all(conn->get(), "gth: 1\r\n\r\n2GET /stats HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto second = read_response(conn->get(), buffer);
  ASSERT_TRUE(second) << second.status().message();
  EXPECT_EQ(second->body, "stored\n");
  auto stats = read_response(conn->get(), buffer);
  ASSERT_TRUE(stats) << stats.status().message();
  EXPECT_EQ(json_field(stats->body, "generation"), 2);
  EXPECT_EQ(json_field(stats->body, "writes"), 2) << "each PUT counted once, on either side";
  EXPECT_TRUE(buffer.empty()) << "exactly one response per request";
  auto value = http_request(port, "GET", "/kv/x");
  ASSERT_TRUE(value);
  EXPECT_EQ(value->body, "2");
}

struct Fault {
  const char* name;
  const char* env;
  const char* cause;  // regex the "upgrade ... failed" line must match
  friend void PrintTo(const Fault& f, std::ostream* os) { *os << f.name; }
};

class HandoffRollback : public ::testing::TestWithParam<Fault> {};

TEST_P(HandoffRollback, OldWorkerResumesWithEveryWrite) {
  WorkerDir dir;
  BatonProcess baton(handoff_args(dir));
  const auto port = serving_port(baton);
  const pid_t old_pid = ready_pid(baton, 1);
  LoadClient load({.port = port, .keepalive_connections = 3, .close_connections = 0, .writes = true});
  ASSERT_TRUE(traffic_flows(load, 300));
  // The one-part form: the old worker pauses at once, so RESUME always finds
  // it paused (a pre-copy's failures are precopy_test.cc's).
  dir.use_script(std::string("export LIBBATON_FAULT=") + GetParam().env + "\nexec " + KVSTORE_FAULTY_BIN +
                 " --no-precopy \"$@\"");
  auto mark = baton.mark();
  baton.signal(SIGHUP);
  ASSERT_TRUE(baton.wait_for(std::string("upgrade to generation 2 failed: .*") + GetParam().cause +
                                 ".*; generation 1 keeps serving", mark))
      << baton.log();
  ASSERT_TRUE(baton.wait_for("kvstore\\[" + std::to_string(old_pid) + "\\]: handoff abandoned: serving again", mark))
      << baton.log();
  ASSERT_TRUE(baton.wait_for("generation 2 retired", mark)) << baton.log();
  ASSERT_TRUE(traffic_flows(load, 300)) << "the old worker serves its connections again";
  LoadStats stats = load.stop();
  EXPECT_EQ(stats.failed, 0u) << (stats.first_errors.empty() ? "" : stats.first_errors[0]);
  expect_all_acknowledged_writes(port, stats);
  EXPECT_EQ(get_stats(port).pid, old_pid);
  EXPECT_EQ(children_of(baton.pid()), std::vector<pid_t>{old_pid});
}

INSTANTIATE_TEST_SUITE_P(
    All, HandoffRollback,
    ::testing::Values(Fault{"RejectsSchema", "reject-schema", "schema rejected"},
                      Fault{"CrashesMidRestore", "crash-mid-restore", "killed by SIGABRT"},
                      Fault{"BadChecksum", "corrupt-state", "checksum mismatch"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Handoff, OldWorkerDyingMidSendLosesOnlyItsOwnStateAndServiceGoesOn) {
  // The documented outcome: the upgrade fails, the dead worker's slot starts
  // over empty, the new generation is killed, and clients are served on.
  WorkerDir dir;
  dir.use_script(std::string("export LIBBATON_FAULT=crash-mid-send\nexec ") + KVSTORE_FAULTY_BIN + " \"$@\"");
  BatonProcess baton(handoff_args(dir));
  const auto port = serving_port(baton);
  ASSERT_EQ(http_request(port, "PUT", "/kv/k", "v")->status, 200);
  dir.use_kvstore();
  auto mark = baton.mark();
  baton.signal(SIGHUP);
  // Which failure baton hears first is a race: the old worker's death, or the
  // new worker's report that the stream broke off. Either fails the upgrade.
  ASSERT_TRUE(baton.wait_for("upgrade to generation 2 failed: (worker 1\\.0 .* killed by SIGABRT during the handoff; "
                             "its state is lost|worker 2\\.0 .* restoring state: .*handoff link closed)",
                             mark))
      << baton.log();
  ASSERT_TRUE(baton.wait_for("worker 1\\.0 \\(pid [0-9]+\\) .*killed by SIGABRT", mark)) << baton.log();
  ASSERT_TRUE(baton.wait_for("generation 2 retired", mark)) << baton.log();
  const pid_t restarted = ready_pid(baton, 1, 0, mark);
  ASSERT_GT(restarted, 0) << baton.log();
  Stats s = get_stats(port);
  EXPECT_EQ(s.pid, restarted);
  EXPECT_EQ(s.generation, 1);
  EXPECT_EQ(http_request(port, "GET", "/kv/k")->status, 404) << "that worker's state is gone, as documented";
  // And the next upgrade hands off normally (the restarted worker runs the kvstore script now).
  ASSERT_TRUE(upgrade(baton, 1, 3));
}

TEST(Handoff, VersionOneStateLoadsIntoVersionTwo) {
  WorkerDir dir;
  dir.use_script(std::string("exec ") + KVSTORE_V1_BIN + " \"$@\"");
  BatonProcess baton(handoff_args(dir));
  const auto port = baton.port();
  ASSERT_TRUE(wait_serving(baton, 1));
  ASSERT_EQ(http_request(port, "PUT", "/kv/k", "from-v1")->status, 200);
  dir.use_kvstore();
  ASSERT_TRUE(upgrade(baton, 1, 2));
  auto s = http_request(port, "GET", "/stats");
  ASSERT_TRUE(s);
  EXPECT_EQ(json_field(s->body, "state_version"), 2);
  EXPECT_EQ(json_field(s->body, "writes"), 0) << "the field v1 did not have starts at its default";
  EXPECT_EQ(http_request(port, "GET", "/kv/k")->body, "from-v1");
}

TEST(Handoff, VersionTwoStateIsRefusedByVersionOneBeforeAnythingPauses) {
  WorkerDir dir;
  BatonProcess baton(handoff_args(dir));
  const auto port = serving_port(baton);
  ASSERT_EQ(http_request(port, "PUT", "/kv/k", "from-v2")->status, 200);
  dir.use_script(std::string("exec ") + KVSTORE_V1_BIN + " \"$@\"");
  baton.signal(SIGHUP);
  EXPECT_TRUE(baton.wait_for("upgrade to generation 2 failed: worker 1\\.0 .* refused the handoff: its state version 2 "
                             "is not one the new worker loads \\[1\\]"))
      << baton.log();
  EXPECT_EQ(baton.count("handoff abandoned"), 0u) << "refused before quiescing: nothing paused, nothing to resume";
  EXPECT_EQ(http_request(port, "GET", "/kv/k")->body, "from-v2");
  EXPECT_EQ(get_stats(port).generation, 1);
  // A v1 build that declares it reads v2 takes it.
  dir.use_script(std::string("exec ") + KVSTORE_V1_BIN + " --accept-state-version 2 \"$@\"");
  ASSERT_TRUE(upgrade(baton, 1, 3));
  EXPECT_EQ(http_request(port, "GET", "/kv/k")->body, "from-v2");
  EXPECT_EQ(json_field(http_request(port, "GET", "/stats")->body, "state_version"), 1);
}

TEST(Handoff, DrainOnlyWorkerIsRefusedWithAClearMessage) {
  WorkerDir dir;
  BatonProcess baton(handoff_args(dir));
  ASSERT_TRUE(wait_serving(baton, 1));
  dir.use_helper("report-fds");  // a libbaton worker with no on_restore: says READY
  baton.signal(SIGHUP);
  EXPECT_TRUE(baton.wait_for("upgrade to generation 2 failed: .*does not support handoff mode \\(run baton with --mode drain\\)"))
      << baton.log();
}

}  // namespace
}  // namespace testing_support
