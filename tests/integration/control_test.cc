// The control socket and the client commands (`baton status`, `baton
// upgrade`, `baton stop`), driven as an operator would: the real baton
// binary as client, a real baton serving kvstore.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <nlohmann/json.hpp>

#include "integration/fixture.h"
#include "support/files.h"
#include "support/command.h"
#include "support/proc.h"

namespace testing_support {
namespace {

CommandResult baton_client(const BatonProcess& baton, std::vector<std::string> args) {
  args.insert(args.end(), {"--control", baton.control_path()});
  return run_baton(std::move(args));
}

nlohmann::json status_json(const BatonProcess& baton) {
  CommandResult r = baton_client(baton, {"status", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.out;
  return j;
}

// `n` clients connected to `port`, each proven served by `first` (an
// exchange with whoever accepted it) before the next connects.
std::vector<baton::UniqueFd> served_clients(std::uint16_t port, int n, const std::function<bool(int fd)>& first) {
  std::vector<baton::UniqueFd> clients;
  for (int i = 0; i < n; ++i) {
    auto c = connect_local(port);
    EXPECT_TRUE(c) << c.status().message();
    if (!c || !first(c->get())) return {};
    clients.push_back(std::move(c.value()));
  }
  return clients;
}

// Generation `number` as `baton status --json` shows it now (null if gone).
nlohmann::json generation_status(const BatonProcess& baton, std::uint64_t number) {
  const nlohmann::json status = status_json(baton);
  for (const auto& g : status["generations"])
    if (g["number"] == number) return g;
  return nullptr;
}

// A raw connection to the control socket, for clients that misbehave.
baton::UniqueFd connect_control(const std::string& path) {
  baton::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
  return fd;
}

// Everything the server sends until it closes (bounded by 30 s).
std::string read_until_closed(int fd) {
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  char chunk[512];
  for (ssize_t n; (n = ::recv(fd, chunk, sizeof chunk, 0)) > 0;) out.append(chunk, static_cast<std::size_t>(n));
  return out;
}

TEST(Control, StatusAndUpgradeWaitInHandoffModeKeepTheKeyAndTheConnection) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--mode", "handoff"}));
  const auto port = serving_port(baton);
  const pid_t first = ready_pid(baton, 1);
  ASSERT_EQ(http_request(port, "PUT", "/kv/answer", "42")->status, 200);
  auto conn = connect_local(port);
  ASSERT_TRUE(conn);
  ASSERT_EQ(exchange(conn->get(), "GET", "/kv/answer")->body, "42");

  CommandResult table = baton_client(baton, {"status"});
  EXPECT_EQ(table.exit_code, 0) << table.describe();
  EXPECT_NE(table.out.find("serving generation 1"), std::string::npos) << table.out;
  nlohmann::json s = status_json(baton);
  EXPECT_EQ(s["state"], "serving");
  EXPECT_EQ(s["mode"], "handoff");
  EXPECT_EQ(s["pid"], baton.pid());
  EXPECT_EQ(s["serving_generation"], 1);
  EXPECT_EQ(s["generations"][0]["workers"][0]["pid"], first);
  EXPECT_EQ(s["listeners"][0]["url"], "tcp://127.0.0.1:" + std::to_string(port));
  EXPECT_TRUE(s["last_upgrade"].is_null());

  CommandResult up = baton_client(baton, {"upgrade", "--wait"});
  EXPECT_EQ(up.exit_code, 0) << up.describe();
  EXPECT_NE(up.out.find("upgrade to generation 2 committed: handed over"), std::string::npos) << up.out;
  EXPECT_EQ(http_request(port, "GET", "/kv/answer")->body, "42") << "the state moved with the handoff";
  auto again = exchange(conn->get(), "GET", "/kv/answer");
  ASSERT_TRUE(again) << "the same keep-alive connection was handed over";
  EXPECT_EQ(again->body, "42");

  s = status_json(baton);
  EXPECT_EQ(s["serving_generation"], 2);
  EXPECT_EQ(s["last_upgrade"]["result"], "committed");
  EXPECT_EQ(s["last_upgrade"]["connections"], 1);
  EXPECT_TRUE(s["last_upgrade"]["handoff_pause_seconds"].is_number());
  EXPECT_EQ(s["upgrades"]["committed"], 1);
}

TEST(Control, FailedUpgradeExitsOneWithTheLogsReasonWhileServing) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir));
  const auto port = serving_port(baton);
  dir.use_helper("exit-now");
  CommandResult up = baton_client(baton, {"upgrade", "--wait"});
  EXPECT_EQ(up.exit_code, 1) << up.describe();
  EXPECT_NE(up.err.find("upgrade to generation 2 failed: worker 2.0 (pid"), std::string::npos) << up.err;
  EXPECT_NE(up.err.find("exited with status 3"), std::string::npos) << up.err;
  EXPECT_TRUE(baton.wait_for("upgrade to generation 2 failed: worker 2.0 .* exited with status 3")) << baton.log();
  EXPECT_EQ(get_stats(port).generation, 1) << "generation 1 keeps serving";
  nlohmann::json s = status_json(baton);
  EXPECT_EQ(s["last_upgrade"]["result"], "failed");
  EXPECT_EQ(s["upgrades"]["failed"], 1);
}

// A FIFO the worker script reads before it execs kvstore: the test decides
// when each new generation may start.
class Gate {
 public:
  Gate() : dir_("baton-gate"), path_(dir_.path() + "/gate") { EXPECT_EQ(::mkfifo(path_.c_str(), 0600), 0); }
  const std::string& path() const { return path_; }
  // Blocks until a worker waits at the gate, then lets it through.
  void open_once() { baton::UniqueFd w(::open(path_.c_str(), O_WRONLY | O_CLOEXEC)); }

 private:
  TempDir dir_;
  std::string path_;
};

TEST(Control, UpgradeWaitDuringAnUpgradeWaitsForTheOneThatIncludesIt) {
  WorkerDir dir;
  Gate gate;
  BatonProcess baton(baton_args(dir));
  ASSERT_TRUE(wait_serving(baton, 1));
  dir.use_script("cat " + gate.path() + " >/dev/null\nexec " + std::string(KVSTORE_BIN));
  auto mark = baton.mark();
  auto first = std::async(std::launch::async, [&] { return baton_client(baton, {"upgrade", "--wait"}); });
  ASSERT_TRUE(baton.wait_for("upgrade to generation 2 started", mark)) << baton.log();
  auto second = std::async(std::launch::async, [&] { return baton_client(baton, {"upgrade", "--wait"}); });
  ASSERT_TRUE(baton.wait_for("upgrade \\(baton upgrade\\) queued: it follows the upgrade running now", mark)) << baton.log();
  CommandResult third = baton_client(baton, {"upgrade"});
  EXPECT_EQ(third.exit_code, 0) << third.describe();
  EXPECT_NE(third.out.find("queued"), std::string::npos) << third.out;

  gate.open_once();  // generation 2 starts
  CommandResult r1 = first.get();
  EXPECT_EQ(r1.exit_code, 0) << r1.describe();
  EXPECT_NE(r1.out.find("generation 2 committed"), std::string::npos) << r1.out;
  gate.open_once();  // generation 3: the second and third requests, as one
  CommandResult r2 = second.get();
  EXPECT_EQ(r2.exit_code, 0) << r2.describe();
  EXPECT_NE(r2.out.find("generation 3 committed"), std::string::npos) << r2.out;
  EXPECT_EQ(status_json(baton)["upgrades"]["committed"], 2) << "three requests, two upgrades";
}

TEST(Control, AnotherUserIsRefusedAndLoggedWhileBatonServesOn) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a client under another uid (setpriv)";
  if (!have_program("setpriv")) GTEST_SKIP() << "setpriv (util-linux) is not installed";
  WorkerDir dir;
  BatonProcess baton(baton_args(dir));
  const auto port = serving_port(baton);
  const std::string uid = std::to_string(40000 + ::getpid() % 20000);
  const std::vector<std::string> as_other{"setpriv", "--reuid", uid, "--regid", uid, "--clear-groups", BATON_BIN,
                                          "status", "--control", baton.control_path()};
  CommandResult denied = run_command(as_other);
  EXPECT_EQ(denied.exit_code, 3) << "the socket's mode keeps it out: " << denied.describe();
  EXPECT_NE(denied.err.find("permission denied on " + baton.control_path()), std::string::npos) << denied.err;

  // Even where the file's mode would let it in, baton checks who connects.
  const auto control_dir = std::filesystem::path(baton.control_path()).parent_path();
  ASSERT_EQ(::chmod(control_dir.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(baton.control_path().c_str(), 0666), 0);
  CommandResult refused = run_command(as_other);
  EXPECT_EQ(refused.exit_code, 1) << refused.describe();
  EXPECT_NE(refused.err.find("permission denied: only root and uid 0"), std::string::npos) << refused.err;
  EXPECT_TRUE(baton.wait_for("control socket: refused a client \\(pid [0-9]+, uid " + uid + "\\)")) << baton.log();

  EXPECT_EQ(baton_client(baton, {"upgrade", "--wait"}).exit_code, 0);
  EXPECT_EQ(get_stats(port).generation, 2);
}

TEST(Control, SilentAndGarbageClientsDoNotStallUpgrades) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir));
  const auto port = serving_port(baton);
  baton::UniqueFd silent = connect_control(baton.control_path());
  baton::UniqueFd garbage = connect_control(baton.control_path());
  const std::string mib(1 << 20, 'x');
  // baton stops reading after 1 KiB and closes: the rest may not be taken.
  (void)::send(garbage.get(), mib.data(), mib.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  EXPECT_TRUE(baton.wait_for("control socket: bad request: request longer than 1024 bytes")) << baton.log();

  CommandResult up = baton_client(baton, {"upgrade", "--wait"});
  EXPECT_EQ(up.exit_code, 0) << up.describe();
  EXPECT_EQ(get_stats(port).generation, 2);
  EXPECT_TRUE(baton.wait_for("control socket: bad request: no complete request within 5s")) << baton.log();
  EXPECT_NE(read_until_closed(silent.get()).find("no complete request within 5s"), std::string::npos)
      << "the silent client is told why, and closed";
}

TEST(Control, UnknownRequestIsNamedWithTheRequestsThereAre) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir));
  ASSERT_TRUE(wait_serving(baton, 1));
  baton::UniqueFd c = connect_control(baton.control_path());
  ASSERT_TRUE(send_all(c.get(), "reboot now\n"));
  const std::string buffer = read_until_closed(c.get());
  auto reply = nlohmann::json::parse(buffer, nullptr, false);
  ASSERT_FALSE(reply.is_discarded()) << buffer;
  EXPECT_EQ(reply["ok"], false);
  EXPECT_EQ(reply["error"], "unknown request \"reboot now\"; send one of: status, upgrade [wait], upgrade self, stop [fast] [wait]");
}

TEST(Control, StopWaitReturnsOnceEveryWorkerIsGone) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir));
  ASSERT_TRUE(wait_serving(baton, 1));
  const pid_t worker = ready_pid(baton, 1);
  CommandResult stop = baton_client(baton, {"stop", "--wait"});
  EXPECT_EQ(stop.exit_code, 0) << stop.describe();
  EXPECT_NE(stop.out.find("stopped"), std::string::npos) << stop.out;
  EXPECT_FALSE(process_exists(worker)) << "the worker is gone before stop --wait returns";
  EXPECT_EQ(baton.wait_exit(), 0);
  EXPECT_FALSE(std::filesystem::exists(baton.control_path())) << "baton removes its socket";
}

TEST(Control, ClientThatCannotReachBatonSaysWhereItLooked) {
  CommandResult r = run_baton({"status", "--control", "/tmp/baton-no-such-dir/x.sock"});
  EXPECT_EQ(r.exit_code, 3) << r.describe();
  EXPECT_NE(r.err.find("no baton control socket at /tmp/baton-no-such-dir/x.sock"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--control PATH or --name NAME"), std::string::npos) << r.err;
  r = run_baton({"upgrade", "--wait", "--name", "no-such-service"});
  EXPECT_EQ(r.exit_code, 3) << r.describe();
  EXPECT_NE(r.err.find("no-such-service.sock"), std::string::npos) << r.err;
}

TEST(Control, DefaultSocketIsNamedAfterTheServiceAndTakenOnce) {
  WorkerDir dir;
  const std::string name = "control-test-" + std::to_string(::getpid());
  BatonProcess baton(baton_args(dir, {"--name", name}));
  ASSERT_TRUE(wait_serving(baton, 1));
  CommandResult r = run_baton({"status", "--json", "--name", name});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const std::string path = nlohmann::json::parse(r.out)["control_socket"];
  EXPECT_EQ(std::filesystem::path(path).filename(), name + ".sock");
  EXPECT_EQ(std::filesystem::status(path).permissions(),
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  BatonProcess twin(baton_args(dir, {"--name", name}));
  EXPECT_EQ(twin.wait_exit(), 3);
  EXPECT_TRUE(twin.wait_for("control socket .*in use by a running process")) << twin.log();
  baton.signal(SIGTERM);
  EXPECT_EQ(baton.wait_exit(), 0);
  EXPECT_FALSE(std::filesystem::exists(path));
}

// "Why is the old generation still alive?": a drain held open by clients
// shows, in `baton status`, how long the generation has been leaving, how many
// client connections each worker still holds (counted from /proc), and the
// signal its deadline sends, and when.
TEST(Control, StatusSaysWhatHoldsADrainOpenAndWhenItEnds) {
  WorkerDir dir;
  dir.use_helper("holds-clients");
  BatonProcess baton(baton_args(dir, {"--drain-timeout", "60s"}));
  const auto port = serving_port(baton);
  auto clients = served_clients(port, 3, [](int fd) {
    char hi[3];
    return ::recv(fd, hi, sizeof hi, MSG_WAITALL) == 3;  // the helper greets each client it accepts
  });
  ASSERT_EQ(clients.size(), 3u) << "generation 1 accepted each";
  const auto mark = baton.mark();
  baton.signal(SIGHUP);
  ASSERT_TRUE(wait_serving(baton, 2, mark)) << baton.log();

  auto old_generation = [&] { return generation_status(baton, 1); };
  auto g = old_generation();
  ASSERT_EQ(g["role"], "retiring") << g.dump() << baton.log();
  EXPECT_GE(g["leaving_seconds"].get<double>(), 0.0);
  const auto& w = g["workers"][0];
  EXPECT_EQ(w["client_connections"], 3) << w.dump();
  EXPECT_EQ(w["client_connections_from"], "proc") << "the helper does not report its count: " << w.dump();
  EXPECT_EQ(w["deadline"]["signal"], "SIGTERM") << w.dump();
  EXPECT_GT(w["deadline"]["in_seconds"].get<double>(), 0.0);
  EXPECT_LE(w["deadline"]["in_seconds"].get<double>(), 60.0);
  auto text = baton_client(baton, {"status"});
  EXPECT_NE(text.out.find("generation 1 retiring for"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("3 client connection(s); SIGTERM in"), std::string::npos) << text.out;

  // A client that leaves is no longer counted (the kernel says so at once).
  clients.pop_back();
  for (int tries = 0; tries < 100 && old_generation()["workers"][0]["client_connections"] != 2; ++tries)
    ::usleep(50'000);  // polls the status, bounded at 5 s; the close is on our side, not an event baton reports
  EXPECT_EQ(old_generation()["workers"][0]["client_connections"], 2);
  baton.signal(SIGQUIT);
  EXPECT_EQ(baton.wait_exit(), 0);
}

// A worker on libbaton says how many clients it still holds (CLIENTS), and
// the status takes its word: kvstore keeps idle keep-alive clients until the
// drain deadline, and closes each after its next answer.
TEST(Control, ADrainingKvstoreReportsItsOwnClientCount) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--drain-timeout", "60s"}));
  const auto port = serving_port(baton);
  auto clients = served_clients(port, 3, [](int fd) {
    auto r = exchange(fd, "GET", "/stats");
    return r && r->status == 200;
  });
  ASSERT_EQ(clients.size(), 3u) << "generation 1 served each";
  const auto mark = baton.mark();
  baton.signal(SIGHUP);
  ASSERT_TRUE(wait_serving(baton, 2, mark)) << baton.log();
  auto old_worker = [&] {
    nlohmann::json g = generation_status(baton, 1);
    return g.is_null() ? g : g["workers"][0];
  };
  // CLIENTS follows DRAIN on the channel; the status asks right after the upgrade.
  for (int tries = 0; tries < 100 && old_worker()["client_connections_from"] != "worker"; ++tries)
    ::usleep(50'000);  // bounded at 5 s
  auto w = old_worker();
  EXPECT_EQ(w["client_connections_from"], "worker") << w.dump();
  EXPECT_EQ(w["client_connections"], 3) << w.dump();

  auto r = exchange(clients.back().get(), "GET", "/stats");
  ASSERT_TRUE(r && r->status == 200);
  char eof;
  EXPECT_EQ(::recv(clients.back().get(), &eof, 1, 0), 0) << "kvstore closes it after the answer";
  for (int tries = 0; tries < 100 && old_worker()["client_connections"] != 2; ++tries) ::usleep(50'000);
  EXPECT_EQ(old_worker()["client_connections"], 2) << old_worker().dump();
  baton.signal(SIGQUIT);
  EXPECT_EQ(baton.wait_exit(), 0);
}

}  // namespace
}  // namespace testing_support
