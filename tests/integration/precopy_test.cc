// Pre-copy with the real kvstore: the store streams to the successor while
// the old worker serves, and only what changed meanwhile goes in the pause.
// Correctness, not speed (handoff_pause measures the pause): what is written
// or deleted during the snapshot arrives, and a failure at any point of it
// leaves the old worker serving with every acknowledged write.
#include <gtest/gtest.h>
#include <signal.h>

#include "integration/fixture.h"
#include "support/proc.h"

namespace testing_support {
namespace {

constexpr int kKeys = 64;  // of 16 KiB: 1 MiB, more than the snapshot's first turn (256 KiB)

std::string key(int i) { return "/kv/k" + std::string(i < 10 ? "0" : "") + std::to_string(i); }

void fill_store(std::uint16_t port) {
  const std::string value(16 * 1024, 'v');
  for (int i = 0; i < kKeys; ++i) {
    auto r = http_request(port, "PUT", key(i), value);
    ASSERT_TRUE(r && r->status == 200) << "PUT " << key(i);
  }
}

std::string faulty_kvstore(const std::string& fault) {
  return "export LIBBATON_FAULT=" + fault + "\nexec " + KVSTORE_FAULTY_BIN + " \"$@\"";
}

void expect_value(std::uint16_t port, const std::string& path, int status, const std::string& body = {}) {
  auto r = http_request(port, "GET", path);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->status, status) << path;
  if (status == 200) {
    EXPECT_EQ(r->body, body) << path;
  }
}

// baton in handoff mode over a kvstore whose pre-copy holds after its first
// turn until SIGUSR2, its store filled.
struct HeldPrecopy {
  static std::vector<std::string> args(WorkerDir& dir) {
    dir.use_script(faulty_kvstore("hold-snapshot"));
    return baton_args(dir, {"--mode", "handoff", "--handoff-timeout", "60s"});
  }
  HeldPrecopy() : baton(args(dir)), port(serving_port(baton)), old_pid(ready_pid(baton, 1)) { fill_store(port); }
  // SIGHUP; true once the old worker's pre-copy holds. `mark` is where the upgrade's log begins.
  bool upgrade_until_held() {
    mark = baton.mark();
    baton.signal(SIGHUP);
    return static_cast<bool>(baton.wait_for("pre-copy held after its first turn", mark));
  }
  WorkerDir dir;
  BatonProcess baton;
  std::uint16_t port;
  pid_t old_pid;
  std::size_t mark = 0;
};

TEST(Precopy, WritesAndDeletesMadeDuringTheSnapshotAreInTheSuccessor) {
  HeldPrecopy held;
  BatonProcess& baton = held.baton;
  const auto port = held.port;
  ASSERT_TRUE(held.upgrade_until_held()) << baton.log();
  // The first turn sent k00.. in key order; k63 and k62 come later, new-key not at all.
  for (auto [method, path] : {std::pair{"PUT", key(0)}, {"PUT", key(63)}, {"PUT", std::string("/kv/new-key")},
                              {"DELETE", key(1)}, {"DELETE", key(62)}}) {
    auto r = http_request(port, method, path, method == std::string("PUT") ? "written during the snapshot" : "");
    ASSERT_TRUE(r && r->status == 200) << method << " " << path << " while the old worker pre-copies";
  }
  ASSERT_EQ(::kill(held.old_pid, SIGUSR2), 0);
  ASSERT_TRUE(baton.wait_for("upgrade to generation 2 complete; handed over [0-9]+ bytes of state and [0-9]+ "
                             "connections; paused [0-9.]+ ms after pre-copying [0-9]+ bytes and lending [0-9]+ connections ahead",
                             held.mark))
      << baton.log();
  EXPECT_EQ(get_stats(port).generation, 2);
  expect_value(port, key(0), 200, "written during the snapshot");
  expect_value(port, key(63), 200, "written during the snapshot");
  expect_value(port, "/kv/new-key", 200, "written during the snapshot");
  expect_value(port, key(1), 404);
  expect_value(port, key(62), 404);
  expect_value(port, key(2), 200, std::string(16 * 1024, 'v'));
  auto s = http_request(port, "GET", "/stats");
  ASSERT_TRUE(s);
  EXPECT_EQ(json_field(s->body, "keys"), kKeys - 2 + 1);
  EXPECT_EQ(json_field(s->body, "writes"), kKeys + 5);
}

// One keep-alive client connection, and the /stats its requests see.
struct Client {
  explicit Client(std::uint16_t port) : fd(connect_local(port).value()) {}
  long stat(const std::string& field) {
    auto r = exchange(fd.get(), "GET", "/stats");
    EXPECT_TRUE(r) << r.status().message();
    return r ? json_field(r->body, field) : -1;
  }
  baton::UniqueFd fd;
};

// The connections open when the pre-copy starts go to the successor ahead of
// the pause: the old worker serves them meanwhile, those that ended meanwhile
// (the client closed, or asked for Connection: close) are dropped, and bytes
// of a request in progress travel with theirs.
TEST(Precopy, ConnectionsLentAheadAreServedByTheOldWorkerThenTheSuccessor) {
  HeldPrecopy held;
  BatonProcess& baton = held.baton;
  const pid_t old_pid = held.old_pid;
  Client stays(held.port), leaves(held.port), asks_to_close(held.port), half_asked(held.port);
  for (Client* c : {&stays, &leaves, &asks_to_close, &half_asked}) ASSERT_EQ(c->stat("pid"), old_pid);
  ASSERT_TRUE(held.upgrade_until_held()) << baton.log();

  EXPECT_EQ(stays.stat("pid"), old_pid) << "lent ahead, still the old worker's to serve";
  leaves.fd.reset();
  // The old worker answers and ends this one (FIN); the client keeps its socket open.
  auto last = exchange(asks_to_close.fd.get(), "GET", "/stats", "", true);
  ASSERT_TRUE(last && last->connection_close);
  // The old worker sees the close (an event, polled through another connection).
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (stays.stat("connections") != 3 && std::chrono::steady_clock::now() < until) {
  }
  ASSERT_EQ(stays.stat("connections"), 3) << "stays, half_asked, and asks_to_close finishing";
  ASSERT_TRUE(send_all(half_asked.fd.get(), "GET /stats HTTP/1.1\r\nHost: kvstore\r\n"));

  ASSERT_EQ(::kill(old_pid, SIGUSR2), 0);
  ASSERT_TRUE(baton.wait_for("upgrade to generation 2 complete; handed over [0-9]+ bytes of state and 2 connections; "
                             "paused [0-9.]+ ms after pre-copying [0-9]+ bytes and lending 4 connections ahead",
                             held.mark))
      << baton.log();
  auto standby = baton.wait_for("worker 2\\.0 \\(pid ([0-9]+)\\) standing by", held.mark);
  ASSERT_TRUE(standby) << baton.log();
  const long new_pid = std::stol(standby->groups[1]);
  ASSERT_TRUE(send_all(half_asked.fd.get(), "\r\n"));
  std::string buffer;
  auto finished = read_response(half_asked.fd.get(), buffer);
  ASSERT_TRUE(finished) << finished.status().message();
  EXPECT_EQ(json_field(finished->body, "pid"), new_pid) << "the request begun with the old worker, answered by the new";
  EXPECT_EQ(json_field(finished->body, "connections"), 2) << "the connections ended during the pre-copy are not adopted";
  EXPECT_EQ(stays.stat("pid"), new_pid);
}

struct Fault {
  const char* name;
  const char* old_side;  // LIBBATON_FAULT of generation 1 ("" for none)
  const char* new_side;  // of generation 2
  const char* cause;     // regex the "upgrade ... failed" line must match
  friend void PrintTo(const Fault& f, std::ostream* os) { *os << f.name; }
};

class PrecopyRollback : public ::testing::TestWithParam<Fault> {};

TEST_P(PrecopyRollback, OldWorkerServesOnWithEveryWrite) {
  const Fault& fault = GetParam();
  WorkerDir dir;
  dir.use_script(faulty_kvstore(fault.old_side));
  BatonProcess baton(baton_args(dir, {"--mode", "handoff", "--handoff-timeout", "3s"}));
  const auto port = serving_port(baton);
  const pid_t old_pid = ready_pid(baton, 1);
  fill_store(port);
  LoadClient load({.port = port, .keepalive_connections = 3, .close_connections = 0, .writes = true});
  ASSERT_TRUE(traffic_flows(load, 300));
  dir.use_script(faulty_kvstore(fault.new_side));
  auto mark = baton.mark();
  baton.signal(SIGHUP);
  ASSERT_TRUE(baton.wait_for(std::string("upgrade to generation 2 failed: .*") + fault.cause +
                                 ".*; generation 1 keeps serving", mark))
      << baton.log();
  ASSERT_TRUE(baton.wait_for("generation 2 retired", mark)) << baton.log();
  ASSERT_TRUE(traffic_flows(load, 300)) << "the old worker serves on";
  LoadStats stats = load.stop();
  EXPECT_EQ(stats.failed, 0u) << (stats.first_errors.empty() ? "" : stats.first_errors[0]);
  expect_all_acknowledged_writes(port, stats);
  expect_value(port, key(kKeys - 1), 200, std::string(16 * 1024, 'v'));
  EXPECT_EQ(get_stats(port).pid, old_pid);
  EXPECT_EQ(children_of(baton.pid()), std::vector<pid_t>{old_pid});
}

INSTANTIATE_TEST_SUITE_P(
    AnyPoint, PrecopyRollback,
    ::testing::Values(Fault{"SuccessorDiesInTheSnapshot", "", "crash-mid-restore", "killed by SIGABRT"},
                      Fault{"SuccessorDiesInTheChanges", "", "crash-mid-changes", "killed by SIGABRT"},
                      Fault{"SnapshotChecksum", "", "corrupt-state", "receiving the snapshot: .*checksum mismatch"},
                      Fault{"ChangesChecksum", "", "corrupt-changes", "changes: .*checksum mismatch"},
                      Fault{"Timeout", "hold-snapshot", "", "handoff not done within 3s"}),
    [](const auto& info) { return std::string(info.param.name); });

// kvstore --no-precopy speaks the one-part form, as a worker without pre-copy
// (or an older libbaton) does: both directions still hand everything over.
TEST(Precopy, WorkerWithoutPrecopyHandsOffAsBefore) {
  WorkerDir dir;
  dir.use_script(std::string("exec ") + KVSTORE_BIN + " --no-precopy \"$@\"");
  BatonProcess baton(baton_args(dir, {"--mode", "handoff", "--handoff-timeout", "20s"}));
  const auto port = serving_port(baton);
  fill_store(port);
  LoadClient load({.port = port, .keepalive_connections = 3, .close_connections = 0, .writes = true});
  ASSERT_TRUE(traffic_flows(load, 300));
  for (const char* next : {"", " --no-precopy"}) {  // without -> with, then with -> without
    dir.use_script(std::string("exec ") + KVSTORE_BIN + next + " \"$@\"");
    auto mark = baton.mark();
    baton.signal(SIGHUP);
    auto done = baton.wait_for("upgrade to generation [0-9]+ complete; handed over [^\n]*", mark);
    ASSERT_TRUE(done) << baton.log();
    EXPECT_EQ(done->groups[0].find("pre-copying"), std::string::npos) << done->groups[0];
    ASSERT_TRUE(traffic_flows(load, 300));
  }
  LoadStats stats = load.stop();
  EXPECT_EQ(stats.failed, 0u) << (stats.first_errors.empty() ? "" : stats.first_errors[0]);
  EXPECT_EQ(stats.reconnects, 0u);
  expect_all_acknowledged_writes(port, stats);
  expect_value(port, key(kKeys - 1), 200, std::string(16 * 1024, 'v'));
}

}  // namespace
}  // namespace testing_support
