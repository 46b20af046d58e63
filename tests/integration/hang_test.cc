// --hang-timeout: a serving worker whose event loop stops answering baton's
// heartbeat is declared hung, killed and replaced; a worker that never said
// it answers is never asked, nor judged. Real baton, real workers: kvstore
// and the helpers (libbaton answers), pykv (PROTOCOL.md alone) and ckv (the C API).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "integration/fixture.h"
#include "support/command.h"
#include "support/http_client.h"
#include "support/load_client.h"
#include "helper_worker.h"

namespace testing_support {
namespace {

using std::chrono::steady_clock;

double ms_since(steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(steady_clock::now() - t).count();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The tests read eu-stack's output; scripts/test.sh installs elfutils.
bool have_eu_stack() { return std::system("command -v eu-stack >/dev/null 2>&1") == 0; }
#define SKIP_WITHOUT_EU_STACK() \
  if (!have_eu_stack()) GTEST_SKIP() << "eu-stack is not installed (apt install elfutils; scripts/test.sh does)"

// "worker G.I (pid P) hung: ... for NNNNms": the log's line when worker G.I is declared hung.
std::string hung_line(const std::string& worker, pid_t pid = 0) {
  return "worker " + worker + " \\(pid " + (pid ? std::to_string(pid) : "[0-9]+") +
         "\\) hung: its event loop has not answered a heartbeat for ([0-9]+)ms .*; keeping its threads' stacks";
}
// Where its stacks went, as the log says once they are kept.
std::string stacks_line(const std::string& worker) {
  return "worker " + worker + " \\(pid [0-9]+\\): its threads' stacks \\(eu-stack\\) are in (\\S+); sending (SIG[A-Z]+)";
}

// A worker stopped with SIGSTOP keeps its pid, its listeners and its place in
// the accept queue: only the heartbeat can tell.
TEST(Hang, AStoppedWorkerIsDeclaredHungKilledAndReplaced) {
  SKIP_WITHOUT_EU_STACK();
  WorkerDir dir;
  TempDir stacks;
  BatonProcess baton(baton_args(dir, {"-w", "2", "--hang-timeout", "2s", "--kill-timeout", "1s", "--hang-stacks",
                                      stacks.path(), "--log-level", "debug"}));
  const auto port = serving_port(baton);
  const pid_t stopped = ready_pid(baton, 1, 0);
  ASSERT_TRUE(baton.wait_for("worker 1\\.0 \\(pid [0-9]+\\) answers heartbeats")) << baton.log();
  const auto mark = baton.mark();
  const auto stopped_at = steady_clock::now();
  ASSERT_EQ(::kill(stopped, SIGSTOP), 0);
  auto hung = baton.wait_for(hung_line("1\\.0", stopped), mark);
  ASSERT_TRUE(hung) << baton.log();
  const double declared_ms = ms_since(stopped_at);
  EXPECT_GE(std::stol(hung->groups[1]), 2000) << "silent for the whole --hang-timeout first";
  auto kept = baton.wait_for(stacks_line("1\\.0"), mark);
  ASSERT_TRUE(kept) << baton.log();
  EXPECT_EQ(kept->groups[2], "SIGTERM");
  const std::string file = kept->groups[1];
  EXPECT_EQ(file.rfind(stacks.path() + "/baton-hung-1.0-pid" + std::to_string(stopped) + "-", 0), 0u) << file;
  EXPECT_NE(read_file(file).find("TID " + std::to_string(stopped)), std::string::npos) << read_file(file);
  const pid_t replacement = ready_pid(baton, 1, 0, mark);
  ASSERT_GT(replacement, 0) << baton.log();
  EXPECT_NE(replacement, stopped);
  std::printf("hang -> declared hung %.0f ms, -> replacement ready %.0f ms (--hang-timeout 2s)\n", declared_ms,
              ms_since(stopped_at));
  EXPECT_TRUE(baton.wait_for("worker 1\\.0 \\(pid " + std::to_string(stopped) + "\\) .*killed by SIGKILL", mark));
  for (int i = 0; i < 20; ++i) get_stats(port);  // fresh connections: served by the live workers
  auto status = run_baton({"status", "--json", "--control", baton.control_path()});
  const auto j = nlohmann::json::parse(status.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << status.describe();
  EXPECT_EQ(j["hangs"], 1);
  EXPECT_NE(j["last_hang"]["stacks"].get<std::string>().find(file), std::string::npos) << j["last_hang"].dump();
  baton.signal(SIGTERM);
  EXPECT_EQ(baton.wait_exit(), 0);
}

// The server side of `client` has been read to its end: /proc/net/tcp's rx
// queue of the row from `server_port` to the client's port is empty. Polled
// (the kernel tells no one), for at most 10 s.
bool server_read_everything(std::uint16_t server_port, int client) {
  sockaddr_in me{};
  socklen_t len = sizeof me;
  if (::getsockname(client, reinterpret_cast<sockaddr*>(&me), &len) != 0) return false;
  char want[64];
  std::snprintf(want, sizeof want, "0100007F:%04X 0100007F:%04X 01 ", server_port, ntohs(me.sin_port));
  const auto until = steady_clock::now() + std::chrono::seconds(10);
  while (steady_clock::now() < until) {
    std::istringstream table(read_file("/proc/net/tcp"));
    for (std::string line; std::getline(table, line);) {
      const auto at = line.find(want);
      if (at == std::string::npos) continue;
      unsigned long tx = 0, rx = 0;  // "tx_queue:rx_queue" follows the state
      if (std::sscanf(line.c_str() + at + std::strlen(want), "%lx:%lx", &tx, &rx) == 2 && rx == 0) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // a poll interval, not a synchronization
  }
  return false;
}

// /proc/PID/stat says `pid` is stopped (state T), within 10 s.
bool stopped(pid_t pid) {
  const auto until = steady_clock::now() + std::chrono::seconds(10);
  while (steady_clock::now() < until) {
    const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    const auto paren = stat.rfind(')');
    if (paren != std::string::npos && stat.compare(paren, 4, ") T ") == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // a poll interval
  }
  return false;
}

// Keep-alive connections, each answered once, until `want` of them are
// served by `pid` (at most 1000 opened); the others stay open too.
std::vector<baton::UniqueFd> connections_to(std::uint16_t port, pid_t pid, std::size_t want,
                                            std::vector<baton::UniqueFd>& others) {
  std::vector<baton::UniqueFd> mine;
  for (int i = 0; i < 1000 && mine.size() < want; ++i) {
    auto fd = connect_local(port);
    if (!fd) break;
    auto r = exchange(fd->get(), "GET", "/stats");
    if (!r || r->status != 200) break;
    (json_field(r->body, "pid") == pid ? mine : others).push_back(std::move(*fd));
  }
  return mine;
}

// Before a hung worker is ended, baton takes its client connections and
// gives them to its replacement: a keep-alive client that sat idle on it
// gets its next answer from the replacement, not a reset. One whose request
// the hung worker had half read is closed by the replacement (a FIN). The
// other worker's clients lose nothing meanwhile.
class HangClients : public ::testing::TestWithParam<const char*> {};

TEST_P(HangClients, TheClientsOfAHungWorkerAreServedByItsReplacement) {
  WorkerDir dir;
  TempDir stacks;
  BatonProcess baton(baton_args(dir, {"-w", "2", "--mode", GetParam(), "--hang-timeout", "2s", "--kill-timeout", "1s",
                                      "--hang-stacks", stacks.path(), "--log-level", "debug"}));
  const auto port = serving_port(baton);
  const pid_t hung = ready_pid(baton, 1, 0);
  ASSERT_TRUE(baton.wait_for("worker 1\\.0 \\(pid [0-9]+\\) answers heartbeats")) << baton.log();
  std::vector<baton::UniqueFd> elsewhere;
  constexpr std::size_t kTaken = 51;  // 50 idle, 1 half-read
  auto idle = connections_to(port, hung, kTaken, elsewhere);
  ASSERT_EQ(idle.size(), kTaken) << "worker 1.0 was given too few of 1000 connections";
  baton::UniqueFd half_read = std::move(idle.back());
  idle.pop_back();
  // A client that starts its next request a moment after its last answer:
  // baton tells the two apart on the kernel's clock, which ticks every few ms.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(send_all(half_read.get(), "GET /stats HTTP/1.1\r\nHost: half\r\n"));
  ASSERT_TRUE(server_read_everything(port, half_read.get())) << "worker 1.0 never read the half request";

  const auto mark = baton.mark();
  ASSERT_EQ(::kill(hung, SIGSTOP), 0);
  // Stopped, so it accepts none of the load's connections: those are the other worker's clients.
  ASSERT_TRUE(stopped(hung));
  LoadClient load({.port = port, .keepalive_connections = 0, .close_connections = 2,
                   .close_pause = std::chrono::milliseconds(2)});
  auto took = baton.wait_for("worker 1\\.0 \\(pid [0-9]+\\): took its ([0-9]+) client connections for its "
                             "replacement \\(([0-9]+) waiting for a request, ([0-9]+) in the middle of one",
                             mark);
  ASSERT_TRUE(took) << baton.log();
  EXPECT_EQ(took->groups[1], std::to_string(kTaken));
  EXPECT_EQ(took->groups[2], std::to_string(kTaken - 1));
  EXPECT_EQ(took->groups[3], "1");
  const pid_t replacement = ready_pid(baton, 1, 0, mark);
  ASSERT_GT(replacement, 0) << baton.log();
  ASSERT_TRUE(baton.wait_for("serves the " + std::to_string(kTaken) + " client connections of the hung worker", mark))
      << baton.log();

  std::size_t kept = 0;
  for (auto& c : idle) {
    auto r = exchange(c.get(), "GET", "/stats");
    if (r && r->status == 200 && json_field(r->body, "pid") == replacement) ++kept;
  }
  char byte;
  EXPECT_EQ(::recv(half_read.get(), &byte, 1, 0), 0) << "closed with a FIN, not reset: " << std::strerror(errno);
  for (auto& c : elsewhere) EXPECT_TRUE(exchange(c.get(), "GET", "/stats")) << "the other worker's idle clients";
  const LoadStats stats = load.stop();
  std::printf("idle connections of the hung worker served by its replacement: %zu of %zu; other clients: %llu "
              "requests, %llu failed\n",
              kept, idle.size(), static_cast<unsigned long long>(stats.ok), static_cast<unsigned long long>(stats.failed));
  EXPECT_EQ(kept, idle.size());
  EXPECT_EQ(stats.failed, 0u) << (stats.first_errors.empty() ? "" : stats.first_errors[0]);
  EXPECT_GT(stats.ok, 0u);
  auto status = run_baton({"status", "--json", "--control", baton.control_path()});
  const auto j = nlohmann::json::parse(status.out, nullptr, false);
  EXPECT_EQ(j["last_hang"]["connections_kept"], kTaken) << status.describe();
  idle.clear(), elsewhere.clear();  // else the drain waits for its deadline
  baton.signal(SIGTERM);
  EXPECT_EQ(baton.wait_exit(), 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, HangClients, ::testing::Values("drain", "handoff"),
                         [](const auto& info) { return std::string(info.param); });

// Worker 0 speaks the protocol by hand and never says FEATURES; worker 1
// stops itself once ready. Each time worker 1 is declared hung (at least
// --hang-timeout after it was ready), worker 0 has been silent as long, and
// is still serving, unjudged.
TEST(Hang, AWorkerThatNeverSaidItAnswersIsNeverAskedNorJudged) {
  WorkerDir dir;
  dir.use_script("if [ \"$BATON_WORKER_INDEX\" = 0 ]; then exec " + self_exe() + " --helper ready-raw; fi\nexec " +
                 self_exe() + " --helper stops-itself");
  TempDir stacks;
  BatonProcess baton(
      baton_args(dir, {"-w", "2", "--hang-timeout", "1s", "--kill-timeout", "0", "--hang-stacks", stacks.path()}));
  const pid_t raw = ready_pid(baton, 1, 0);
  ASSERT_GT(raw, 0) << baton.log();
  std::size_t from = 0;
  for (int round = 0; round < 2; ++round) {
    auto hung = baton.wait_for(hung_line("1\\.1"), from);
    ASSERT_TRUE(hung) << baton.log();
    from = hung->line + 1;
  }
  EXPECT_EQ(baton.count("worker 1\\.0 .*hung"), 0u) << baton.log();
  EXPECT_EQ(::kill(raw, 0), 0) << "worker 1.0 serves on";
  baton.signal(SIGQUIT);
  EXPECT_EQ(baton.wait_exit(), 0);
}

// A worker written from PROTOCOL.md alone (pykv) and one on the C API (ckv)
// say they answer, and do: baton logs their first PONG, and a stopped one is
// declared hung.
class HangOtherLanguage : public ::testing::TestWithParam<const char*> {};

TEST_P(HangOtherLanguage, AnswersTheHeartbeatAndIsJudgedWhenStopped) {
  WorkerDir dir;
  dir.use_script(std::string("exec ") + GetParam() + " \"$@\"");
  TempDir stacks;
  BatonProcess baton(baton_args(
      dir, {"--hang-timeout", "1s", "--kill-timeout", "0", "--hang-stacks", stacks.path(), "--log-level", "debug"}));
  const pid_t worker = ready_pid(baton, 1, 0);
  ASSERT_TRUE(baton.wait_for("worker 1\\.0 \\(pid [0-9]+\\) answers heartbeats")) << baton.log();
  const auto mark = baton.mark();
  ASSERT_EQ(::kill(worker, SIGSTOP), 0);
  EXPECT_TRUE(baton.wait_for(hung_line("1\\.0", worker), mark)) << baton.log();
  EXPECT_GT(ready_pid(baton, 1, 0, mark), 0) << baton.log();
  baton.signal(SIGTERM);
  EXPECT_EQ(baton.wait_exit(), 0);
}

// A loop that spins: the stacks kept name the function it spins in, and
// --hang-signal ABRT ends it (a core dump where they are on; the helper turns them off).
TEST(Hang, ASpinningWorkersStacksNameTheFunctionItSpinsIn) {
  SKIP_WITHOUT_EU_STACK();
  WorkerDir dir;
  dir.use_helper("spins");
  TempDir stacks;
  BatonProcess baton(baton_args(dir, {"--hang-timeout", "1s", "--hang-signal", "ABRT", "--hang-stacks",
                                      stacks.path()}));
  ASSERT_TRUE(baton.wait_for(hung_line("1\\.0"))) << baton.log();
  auto kept = baton.wait_for(stacks_line("1\\.0"));
  ASSERT_TRUE(kept) << baton.log();
  EXPECT_EQ(kept->groups[2], "SIGABRT");
  EXPECT_NE(read_file(kept->groups[1]).find("spin_forever_in_a_callback"), std::string::npos)
      << read_file(kept->groups[1]);
  EXPECT_TRUE(baton.wait_for("worker 1\\.0 \\(pid [0-9]+\\) hung: .*killed by SIGABRT")) << baton.log();
  baton.signal(SIGQUIT);
  EXPECT_EQ(baton.wait_exit(), 0);
}

INSTANTIATE_TEST_SUITE_P(Workers, HangOtherLanguage, ::testing::Values(PYKV_BIN, CKV_BIN),
                         [](const auto& info) { return std::string(info.param == std::string(CKV_BIN) ? "C" : "Python"); });

}  // namespace
}  // namespace testing_support
