// Findings of the hostile test (issue "Hardening"), one test each: what a
// careless operator or a hostile user did, and what baton must do instead.
#include <gtest/gtest.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "baton/listener_socket.h"
#include "integration/fixture.h"
#include "support/files.h"
#include "support/proc.h"

namespace testing_support {
namespace {

// ---- the command line (findings 13, 14) -------------------------------------

TEST(CommandLine, WorkerFlagsAfterDashDashBelongToTheWorker) {
  // --listen last before `--` used to swallow the worker's own --port.
  BatonProcess baton({"--listen", "http=tcp://127.0.0.1:0", "--", "/bin/echo", "--port", "3"});
  EXPECT_TRUE(baton.wait_for("worker 1\\.0 \\(pid [0-9]+\\): --port 3$")) << baton.log();
  EXPECT_EQ(baton.wait_exit(), 4) << "echo is no worker; but it ran with its flags. " << baton.log();
}

TEST(CommandLine, UnknownFlagIsNamedAsItIs) {
  BatonProcess baton({"--bogus", "--", "/bin/true"});
  EXPECT_EQ(baton.wait_exit(), 2);
  EXPECT_TRUE(baton.wait_for("not expected: --bogus$")) << baton.log();
}

TEST(CommandLine, WorkerCountThatIsNotANumberSaysSo) {
  BatonProcess baton({"-w", "abc", "--listen", "http=tcp://127.0.0.1:0", "--", "/bin/true"});
  EXPECT_EQ(baton.wait_exit(), 2);
  EXPECT_TRUE(baton.wait_for("\"abc\" is not a number; give a worker count from 1 to 256")) << baton.log();
}

TEST(CommandLine, RollingBatchThatIsNotASizeSaysHowToWriteOne) {
  for (const char* batch : {"lots", "-1", "1000"}) {
    BatonProcess baton({"--listen", "http=tcp://127.0.0.1:0", "--rolling", batch, "--", "/bin/true"});
    EXPECT_EQ(baton.wait_exit(), 2) << batch;
    EXPECT_TRUE(baton.wait_for("--rolling: \"" + std::string(batch) + "\" is not a batch size; write 0 to 256, or auto"))
        << baton.log();
  }
}

TEST(CommandLine, TimeoutsThatCannotWorkAreRefused) {
  for (const char* flag : {"--drain-timeout", "--ready-timeout", "--handoff-timeout"}) {
    BatonProcess baton({"--listen", "http=tcp://127.0.0.1:0", flag, "0", "--", "/bin/true"});
    EXPECT_EQ(baton.wait_exit(), 2) << flag;
    EXPECT_TRUE(baton.wait_for(std::string(flag) + ": 0 is too short to work; use at least 100ms")) << baton.log();
  }
}

TEST(CommandLine, MissingListenIsAUsageError) {
  BatonProcess baton({"--", "/bin/true"});
  EXPECT_EQ(baton.wait_exit(), 2);
  EXPECT_TRUE(baton.wait_for("no listeners; pass --listen NAME=URL")) << baton.log();
}

TEST(CommandLine, MissingWorkerIsAUsageError) {
  BatonProcess baton({"--listen", "http=tcp://127.0.0.1:0"});
  EXPECT_EQ(baton.wait_exit(), 2);
  EXPECT_TRUE(baton.wait_for("no worker command; end baton's options with -- WORKER")) << baton.log();
}

// ---- errors that say what is wrong (finding 15) -------------------------------

TEST(CommandLine, ScriptWithoutShebangIsNotExecutable) {
  // glibc's execvp would hand it to /bin/sh; baton says what is wrong.
  WorkerDir dir;
  const std::string script = dir.worker() + ".noshebang";
  std::ofstream(script) << "exec " << KVSTORE_BIN << "\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  BatonProcess baton({"--listen", "http=tcp://127.0.0.1:0", "--", script});
  EXPECT_EQ(baton.wait_exit(), 126) << baton.log();
  EXPECT_TRUE(baton.wait_for("Exec format error; it is neither a binary nor a script with a #! line")) << baton.log();
}

TEST(CommandLine, DirectoryAsWorkerSaysSo) {
  BatonProcess baton({"--listen", "http=tcp://127.0.0.1:0", "--", "/tmp"});
  EXPECT_EQ(baton.wait_exit(), 126) << baton.log();
  EXPECT_TRUE(baton.wait_for("start worker /tmp: Is a directory; give the path of the worker's executable"))
      << baton.log();
}

TEST(CommandLine, UnixSocketInAMissingDirectoryNamesIt) {
  BatonProcess baton({"--listen", "http=unix:///tmp/baton-no-such-dir/sub/app.sock", "--", KVSTORE_BIN});
  EXPECT_EQ(baton.wait_exit(), 3) << baton.log();
  EXPECT_TRUE(baton.wait_for("the directory /tmp/baton-no-such-dir/sub does not exist; create it")) << baton.log();
}

TEST(CommandLine, SameAddressUnderTwoNamesIsRefused) {
  BatonProcess baton({"--listen", "a=tcp://127.0.0.1:8080", "--listen", "b=tcp://127.0.0.1:8080", "--", KVSTORE_BIN});
  EXPECT_EQ(baton.wait_exit(), 2) << baton.log();
  EXPECT_TRUE(baton.wait_for("listeners \"a\" and \"b\" have the same address tcp://127.0.0.1:8080")) << baton.log();
}

TEST(Startup, SystemdSocketUnderAnotherNameIsNamed) {
  auto spec = baton::parse_listener_spec("web=tcp://127.0.0.1:0");
  ASSERT_TRUE(spec);
  auto socket = baton::bind_listener(*spec, SOMAXCONN);
  ASSERT_TRUE(socket) << socket.status().message();
  const std::string url = socket->spec().url();
  BatonProcess baton({"--listen", "http=" + url, "--", KVSTORE_BIN}, BatonProcess::Activation{socket->fd(), "web"});
  EXPECT_EQ(baton.wait_exit(), 3) << baton.log();
  EXPECT_TRUE(baton.wait_for("systemd passed that address as \"web\"; name the listener web")) << baton.log();
}

TEST(Startup, LiveUnixSocketWithAFullQueueIsRefusedAtOnce) {
  // A live server that does not accept: the probe must not wait for it.
  WorkerDir dir;
  const std::string path = dir.worker() + ".sock";
  baton::UniqueFd server(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(server.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(server.get(), 0), 0);
  std::vector<baton::UniqueFd> queued;
  for (int i = 0; i < 64; ++i) {
    baton::UniqueFd c(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (::connect(c.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) break;  // EAGAIN: full
    queued.push_back(std::move(c));
  }
  BatonProcess baton({"--listen", "http=unix://" + path, "--", KVSTORE_BIN});
  EXPECT_EQ(baton.wait_exit(std::chrono::seconds(10)), 3) << "no hang: " << baton.log();
  EXPECT_TRUE(baton.wait_for("is in use by a running process \\(its accept queue is full\\)")) << baton.log();
  EXPECT_TRUE(std::filesystem::exists(path)) << "a live socket is never taken over";
}

// ---- start-up (finding 9) ----------------------------------------------------

TEST(Startup, SighupWhileStartingIsQueuedNotFatal) {
  // `systemctl reload` right after start: the SIGHUP lands while baton binds
  // its listeners, before its handlers exist. It must become the upgrade
  // README promises, never kill baton (exit 129).
  for (int attempt = 0; attempt < 5; ++attempt) {
    WorkerDir dir;
    BatonProcess baton(baton_args(dir));
    ASSERT_TRUE(baton.wait_for("listening http=")) << baton.log();
    baton.signal(SIGHUP);
    ASSERT_TRUE(wait_serving(baton, 2)) << "attempt " << attempt << ":\n" << baton.log();
    baton.signal(SIGTERM);
    EXPECT_EQ(baton.wait_exit(), 0) << baton.log();
  }
}

// ---- the pid file (finding 8) -----------------------------------------------

TEST(PidFile, PlantedSymlinkIsNotFollowed) {
  WorkerDir dir;
  const auto base = std::filesystem::temp_directory_path() / ("baton-pid-" + std::to_string(::getpid()));
  std::filesystem::create_directories(base);
  const std::string victim = (base / "victim").string(), pid_file = (base / "baton.pid").string();
  std::ofstream(victim) << "precious\n";
  // What the old code opened with O_CREAT|O_TRUNC, following links.
  std::filesystem::create_symlink(victim, pid_file + ".tmp");
  BatonProcess baton(baton_args(dir, {"--pid-file", pid_file}));
  ASSERT_TRUE(wait_serving(baton, 1)) << baton.log();
  EXPECT_EQ(read_file(victim), "precious\n");
  EXPECT_EQ(read_file(pid_file), std::to_string(baton.pid()) + "\n");
  baton.signal(SIGTERM);
  EXPECT_EQ(baton.wait_exit(), 0);
  EXPECT_FALSE(std::filesystem::exists(pid_file)) << "removed at exit";
  std::filesystem::remove_all(base);
}

// ---- the supervisor's death (finding 11) --------------------------------------

// Waits until nothing listens on 127.0.0.1:port any more (connect refused).
bool listener_closed(std::uint16_t port) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    auto c = connect_local(port, 1'000);
    if (!c && c.status().error_number() == ECONNREFUSED) return true;
  }
  return false;
}

TEST(Lifecycle, RestartAfterSupervisorKilledBindsAtOnce) {
  // No socket activation: the restarted baton binds the port itself, while
  // the orphaned worker still finishes an idle connection.
  WorkerDir dir;
  BatonProcess first(baton_args(dir));
  const auto port = serving_port(first);
  auto idle = connect_local(port);  // keeps the orphan busy until its deadline
  ASSERT_TRUE(idle);
  ASSERT_TRUE(exchange(idle->get(), "GET", "/healthz")) << "the connection works";
  const pid_t orphan = ready_pid(first, 1);
  first.signal(SIGKILL);
  ASSERT_EQ(first.wait_exit(), 128 + SIGKILL);
  ASSERT_TRUE(listener_closed(port)) << "the orphan let go of its copy of the listener";
  ASSERT_TRUE(process_exists(orphan)) << "the orphan still finishes its connection";
  BatonProcess second({"--listen", "http=tcp://127.0.0.1:" + std::to_string(port), "--", dir.worker()});
  ASSERT_TRUE(wait_serving(second, 1)) << second.log();
  EXPECT_EQ(get_stats(port).pid, ready_pid(second, 1));
}

// ---- deploying a new binary (finding 12) ----------------------------------------

TEST(Upgrade, DeployByRenameWhileTheOldBinaryRuns) {
  // README's deploy line. baton runs the binary itself (no script).
  WorkerDir dir;
  const std::string worker = dir.worker() + ".bin";
  std::filesystem::copy_file(KVSTORE_V1_BIN, worker);
  BatonProcess baton({"--listen", "http=tcp://127.0.0.1:0", "--", worker});
  const auto port = serving_port(baton);
  EXPECT_EQ(json_field(http_request(port, "GET", "/stats")->body, "state_version"), 1);
  // `cp new-build /srv/app` over the running binary: the kernel refuses.
  baton::UniqueFd busy(::open(worker.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  EXPECT_FALSE(busy.valid());
  EXPECT_EQ(errno, ETXTBSY) << "a plain cp fails with Text file busy";
  // Copy beside it, rename over it: the running binary keeps its inode.
  std::filesystem::copy_file(KVSTORE_BIN, worker + ".new");
  std::filesystem::rename(worker + ".new", worker);
  baton.signal(SIGHUP);
  ASSERT_TRUE(wait_serving(baton, 2)) << baton.log();
  EXPECT_EQ(json_field(http_request(port, "GET", "/stats")->body, "state_version"), 2) << "the new build serves";
}

// ---- what workers leave behind (finding 10) -------------------------------------

pid_t read_pid(const std::string& path) {
  std::ifstream in(path);
  long pid = 0;
  in >> pid;
  return static_cast<pid_t>(pid);
}

TEST(Lifecycle, WhatWorkersLeaveBehindEndsWithAGracefulStop) {
  // One leftover that stops on SIGTERM, one that ignores it.
  WorkerDir dir;
  const std::string pids = dir.worker() + ".pids";
  dir.use_script("sleep 1000 & echo $! > " + pids + ".a\n(trap '' TERM; exec sleep 1000) & echo $! > " + pids +
                 ".b\nexec " + KVSTORE_BIN + " \"$@\"");
  BatonProcess baton(baton_args(dir, {"--kill-timeout", "500ms"}));
  ASSERT_TRUE(wait_serving(baton, 1)) << baton.log();
  const pid_t polite = read_pid(pids + ".a"), stubborn = read_pid(pids + ".b");
  ASSERT_GT(polite, 0);
  ASSERT_GT(stubborn, 0);
  ASSERT_TRUE(process_exists(polite) && process_exists(stubborn));
  baton.signal(SIGTERM);
  EXPECT_EQ(baton.wait_exit(), 0) << baton.log();
  const bool polite_gone = !process_exists(polite), stubborn_gone = !process_exists(stubborn);
  for (pid_t p : {polite, stubborn})
    if (process_exists(p)) ::kill(p, SIGKILL);  // ours: the test started it through baton
  EXPECT_TRUE(polite_gone) << "left to the host's init: " << baton.log();
  EXPECT_TRUE(stubborn_gone) << "left to the host's init: " << baton.log();
  EXPECT_TRUE(baton.wait_for("process group\\(s\\) left behind by workers: SIGTERM")) << baton.log();
  EXPECT_TRUE(baton.wait_for("still running after SIGTERM; sending SIGKILL")) << baton.log();
}

TEST(Lifecycle, OrphansAreReapedWithoutProc) {
  // A private mount namespace with an empty /proc: reaping must not need it.
  WorkerDir dir;
  dir.use_helper("orphan-maker");
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "the sanitizer runtime reads its options (/proc/self/environ) and, at exit, the thread list "
                  "from /proc; the release suite runs this";
#endif
  BatonProcess baton(baton_args(dir), std::nullopt, BatonProcess::Output::kCaptured,
                     {"unshare", "--mount", "--", "sh", "-c", "mount -t tmpfs none /proc && exec \"$0\" \"$@\""});
  auto m = baton.wait_for("helper orphan pid ([0-9]+)");
  if (!m && baton.log().find("unshare") != std::string::npos) GTEST_SKIP() << "no mount namespace here: " << baton.log();
  ASSERT_TRUE(m) << baton.log();
  EXPECT_TRUE(baton.wait_for("reaped orphan pid " + m->groups[1] + " \\(exit status 7\\)")) << baton.log();
  baton.signal(SIGTERM);
  EXPECT_EQ(baton.wait_exit(), 0) << baton.log();
}

// ---- logs (finding 16) ---------------------------------------------------------

TEST(Logs, WorkerErrorTextCannotBreakOrForgeLines) {
  for (const char* format : {"text", "json"}) {
    WorkerDir dir;
    BatonProcess baton(baton_args(dir, {"--log-format", format}));
    ASSERT_TRUE(wait_serving(baton, 1)) << baton.log();
    dir.use_helper("report-hostile-error");
    auto mark = baton.mark();
    baton.signal(SIGHUP);
    // Text shows `disk \xff\xfe gone\n2026`; JSON escapes those backslashes once more.
    const std::string bs = std::string(format) == "json" ? R"(\\\\)" : R"(\\)";
    const std::string escaped = "disk " + bs + "xff" + bs + "xfe gone" + bs + "n2026";
    auto line = baton.wait_for("upgrade to generation 2 failed: .*reported an error: " + escaped, mark);
    EXPECT_TRUE(line) << format << ":\n" << baton.log();
    EXPECT_EQ(baton.count("^2026-11-23 info baton\\[1\\] upgrade complete", mark), 0u) << "a forged line";
    EXPECT_LE(baton.count("rejected: ", mark), 1u) << "the worker's own line, then one summary";
  }
}

TEST(Logs, SigquitSaysFastStopOnly) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir));
  ASSERT_TRUE(wait_serving(baton, 1));
  auto mark = baton.mark();
  baton.signal(SIGQUIT);
  EXPECT_EQ(baton.wait_exit(), 0) << baton.log();
  EXPECT_TRUE(baton.wait_for("stopping fast \\(SIGQUIT\\): SIGTERM to every worker", mark)) << baton.log();
  EXPECT_EQ(baton.count("draining every worker", mark), 0u) << baton.log();
}

TEST(Logs, StopDuringAHandoffIsNoProtocolError) {
  // SIGTERM while the new worker restores: its RESTORED crosses the stop.
  for (int sig : {SIGTERM, SIGQUIT}) {
    WorkerDir dir;
    BatonProcess baton(baton_args(dir, {"--mode", "handoff"}));
    const auto port = serving_port(baton);
    for (int k = 0; k < 2000; ++k) ASSERT_EQ(http_request(port, "PUT", "/kv/k" + std::to_string(k), "v")->status, 200);
    auto mark = baton.mark();
    baton.signal(SIGHUP);
    ASSERT_TRUE(baton.wait_for("handoff from generation 1 to generation 2", mark)) << baton.log();
    baton.signal(sig);
    EXPECT_EQ(baton.wait_exit(), 0) << baton.log();
    EXPECT_EQ(baton.count("protocol error", mark), 0u) << baton.log();
    EXPECT_EQ(baton.count(" error ", mark), 0u) << "a stop is a normal path: " << baton.log();
  }
}

// ---- baton's output going nowhere (finding 2) ----------------------------------

// With no log to read, the service itself says what runs: polls /stats until
// generation `g` answers (bounded). Returns the answering pid, or -1.
long wait_generation(std::uint16_t port, long g) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = http_request(port, "GET", "/stats");
    if (r && r->status == 200 && json_field(r->body, "generation") == g) return json_field(r->body, "pid");
  }
  return -1;
}

TEST(Output, BrokenStderrKillsNoWorker) {
  // baton's stdout/stderr: a pipe whose reader is gone. Workers write to
  // baton's pipes instead, so their first log line no longer kills them.
  auto spec = baton::parse_listener_spec("http=tcp://127.0.0.1:0");
  ASSERT_TRUE(spec);
  auto socket = baton::bind_listener(*spec, SOMAXCONN);
  ASSERT_TRUE(socket) << socket.status().message();
  const auto port = socket->spec().port;
  WorkerDir dir;
  // sh does not ignore SIGPIPE: its first line would kill it on a dead stream.
  dir.use_script(std::string("echo starting kvstore\nexec ") + KVSTORE_BIN + " \"$@\"");
  BatonProcess baton({"--", dir.worker()}, BatonProcess::Activation{socket->fd(), "http"},
                     BatonProcess::Output::kReaderGone);
  const long first = wait_generation(port, 1);
  ASSERT_GT(first, 0) << "generation 1 never served";
  ASSERT_EQ(http_request(port, "PUT", "/kv/k", "v")->status, 200);
  baton.signal(SIGHUP);
  const long second = wait_generation(port, 2);
  ASSERT_GT(second, 0) << "the upgrade never served";
  // A crashed worker is restarted and serves again.
  ASSERT_EQ(::kill(static_cast<pid_t>(second), SIGKILL), 0);
  ASSERT_TRUE(wait_process_gone(static_cast<pid_t>(second)));
  auto after = http_request(port, "GET", "/stats");
  ASSERT_TRUE(after) << after.status().message();
  EXPECT_NE(json_field(after->body, "pid"), second);
  baton.signal(SIGTERM);
  EXPECT_EQ(baton.wait_exit(), 0);
}

// ---- a handoff at the open-files limit (finding 1) ------------------------------

// Opens keep-alive connections (each answered once) until `pid` holds
// `limit` fds or the server refuses more; bounded.
std::vector<baton::UniqueFd> fill_fds(std::uint16_t port, pid_t pid, int limit) {
  std::vector<baton::UniqueFd> held;
  for (int i = 0; i < 2 * limit && open_fd_count(pid) < limit; ++i) {
    auto c = connect_local(port, 2'000);
    if (!c || !exchange(c->get(), "GET", "/healthz")) break;
    held.push_back(std::move(c.value()));
  }
  return held;
}

TEST(Handoff, WorkerAtItsOpenFilesLimitKeepsItsState) {
  // The old worker at 64 of 64 fds could not receive HANDOFF's link: it took
  // that for a lost supervisor, drained, and was restarted empty.
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "the sanitizers' runtime needs fds of its own (UBSan's vptr check opens a pipe to read "
                  "memory), so a worker at its open-files limit reports false errors; the release suite runs this";
#endif
  WorkerDir dir;
  dir.use_script(std::string("ulimit -n 64\nexec ") + KVSTORE_BIN + " \"$@\"");
  BatonProcess baton(baton_args(dir, {"--mode", "handoff"}));
  const auto port = serving_port(baton);
  const pid_t old_pid = ready_pid(baton, 1);
  for (int k = 0; k < 100; ++k)
    ASSERT_EQ(http_request(port, "PUT", "/kv/k" + std::to_string(k), "v" + std::to_string(k))->status, 200);
  auto held = fill_fds(port, old_pid, 64);
  ASSERT_EQ(open_fd_count(old_pid), 64) << fd_listing(old_pid);

  auto mark = baton.mark();
  baton.signal(SIGHUP);
  auto outcome = baton.wait_for("upgrade to generation 2 (complete|failed: .*; generation 1 keeps serving)", mark);
  ASSERT_TRUE(outcome) << baton.log();
  EXPECT_EQ(baton.count("restarting it", mark), 0u) << "no worker died: " << baton.log();
  // Read back on connections held all along: the worker is still at its
  // limit, so a new connection would be refused by design.
  ASSERT_FALSE(held.empty());
  for (int k = 0; k < 100; ++k) {
    auto r = exchange(held[0].get(), "GET", "/kv/k" + std::to_string(k));
    ASSERT_TRUE(r) << r.status().message();
    EXPECT_EQ(r->body, "v" + std::to_string(k)) << "key k" << k << " after: " << outcome->groups[0];
  }
  for (auto& c : held) EXPECT_TRUE(exchange(c.get(), "GET", "/healthz")) << "every held connection still works";
  std::cout << "upgrade at the limit: " << outcome->groups[0] << "\n";
}

// ---- connections in the middle of something (findings 3, 4, 6) ---------------------

// A value whose bytes differ along its length, so a cut or a shift shows.
std::string patterned(std::size_t n, char seed) {
  std::string s(n, seed);
  for (std::size_t i = 0; i < n; i += 101) s[i] = static_cast<char>('a' + (i / 101 + seed) % 26);
  return s;
}

// Waits until kvstore has parsed `more` requests beyond `base` (its /stats
// count), so the test knows they are answered or queued, not in transit.
bool requests_reach(std::uint16_t port, long target) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = http_request(port, "GET", "/stats");
    if (r && json_field(r->body, "requests") >= target) return true;
  }
  return false;
}

TEST(Handoff, RequestsLargerThan32KiBInFlightMoveWithTheirConnection) {
  // Four clients each half-way through a 100 KB upload when SIGHUP comes.
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--mode", "handoff"}));
  const auto port = serving_port(baton);
  for (int round = 0; round < 10; ++round) {
    std::vector<baton::UniqueFd> uploads;
    std::vector<std::string> bodies;
    for (int c = 0; c < 4; ++c) {
      auto fd = connect_local(port);
      ASSERT_TRUE(fd);
      bodies.push_back(patterned(100'000, static_cast<char>('A' + c + round)));
      const std::string head = "PUT /kv/up" + std::to_string(c) + " HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n";
      ASSERT_TRUE(send_all(fd->get(), head + bodies.back().substr(0, 50'000)));
      uploads.push_back(std::move(fd.value()));
    }
    auto mark = baton.mark();
    baton.signal(SIGHUP);
    ASSERT_TRUE(wait_serving(baton, round + 2, mark)) << "round " << round << ":\n" << baton.log();
    for (int c = 0; c < 4; ++c) {
      ASSERT_TRUE(send_all(uploads[c].get(), bodies[c].substr(50'000)));
      std::string buffer;
      auto r = read_response(uploads[c].get(), buffer);
      ASSERT_TRUE(r) << r.status().message();
      EXPECT_EQ(r->status, 200) << "round " << round << ", upload " << c;
    }
    for (int c = 0; c < 4; ++c)
      EXPECT_EQ(http_request(port, "GET", "/kv/up" + std::to_string(c))->body, bodies[c]) << "round " << round;
  }
  EXPECT_EQ(baton.count("upgrade to generation [0-9]+ failed"), 0u) << baton.log();
}

// A client that stores a 1 MB value, pipelines `count` GETs of it (the last
// asking for Connection: close if `close_last`) and reads none of the
// answers yet. Returns once kvstore has parsed them all; an empty fd (and a
// test failure) if it could not.
struct UnreadClient {
  baton::UniqueFd fd;
  std::string big;
};
UnreadClient pipeline_unread(std::uint16_t port, int count, char seed, bool close_last) {
  UnreadClient c{{}, patterned(1'000'000, seed)};
  auto put = http_request(port, "PUT", "/kv/big", c.big);
  auto stats = http_request(port, "GET", "/stats");
  auto fd = connect_local(port, 30'000);
  if (!put || put->status != 200 || !stats || !fd) {
    ADD_FAILURE() << "could not set up the unread client";
    return c;
  }
  std::string pipelined;
  for (int i = 0; i < count; ++i)
    pipelined += std::string("GET /kv/big HTTP/1.1\r\nHost: t\r\n") +
                 (close_last && i == count - 1 ? "Connection: close\r\n" : "") + "\r\n";
  // +1: the /stats request below counts itself.
  if (!send_all(fd->get(), pipelined) || !requests_reach(port, json_field(stats->body, "requests") + count + 1)) {
    ADD_FAILURE() << "kvstore never parsed the pipelined requests";
    return c;
  }
  c.fd = std::move(fd.value());
  return c;
}

TEST(Handoff, ClientThatDoesNotReadHoldsNobodyHostage) {
  // 20 pipelined GETs of 1 MB, never read: ~20 MB queued in the old worker.
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--mode", "handoff", "--handoff-timeout", "20s"}));
  const auto port = serving_port(baton);
  UnreadClient slow = pipeline_unread(port, 20, 'b', false);
  ASSERT_TRUE(slow.fd.valid());
  auto mark = baton.mark();
  baton.signal(SIGHUP);
  auto done = baton.wait_for("upgrade to generation 2 (complete|failed).*", mark);
  ASSERT_TRUE(done) << baton.log();
  EXPECT_NE(done->groups[0].find("complete"), std::string::npos) << done->groups[0];
  std::cout << "with 20 MB unread by one client: " << done->groups[0] << "\n";
  EXPECT_EQ(http_request(port, "GET", "/healthz")->status, 200) << "everybody else is served";
  std::string buffer;
  for (int i = 0; i < 20; ++i) {
    auto r = read_response(slow.fd.get(), buffer);
    ASSERT_TRUE(r) << "response " << i << ": " << r.status().message();
    ASSERT_EQ(r->body.size(), slow.big.size()) << "response " << i;
    EXPECT_TRUE(r->body == slow.big) << "response " << i << " differs";
  }
  EXPECT_TRUE(exchange(slow.fd.get(), "GET", "/healthz")) << "the same connection goes on";
}

TEST(Handoff, ResponsesInFlightAtCommitAreFinished) {
  // Ten pipelined 1 MB responses, the last with Connection: close, to a
  // client that reads only after the upgrade: all ten arrive, then EOF.
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--mode", "handoff"}));
  const auto port = serving_port(baton);
  UnreadClient slow = pipeline_unread(port, 10, 'c', true);
  ASSERT_TRUE(slow.fd.valid());
  auto mark = baton.mark();
  baton.signal(SIGHUP);
  ASSERT_TRUE(wait_serving(baton, 2, mark)) << baton.log();
  std::string buffer;
  for (int i = 0; i < 10; ++i) {
    auto r = read_response(slow.fd.get(), buffer);
    ASSERT_TRUE(r) << "response " << i << " of 10: " << r.status().message();
    EXPECT_TRUE(r->body == slow.big) << "response " << i << " differs";
  }
  char byte;
  EXPECT_EQ(::recv(slow.fd.get(), &byte, 1, 0), 0) << "then an orderly EOF";
}

// ---- an abandoned candidate (finding 5) ---------------------------------------

TEST(Upgrade, AbandonedCandidateFinishesWhatItAccepted) {
  // Drain mode, -w 2: worker 2.0 says READY and accepts; then 2.1 fails.
  // 2.0 is drained like any old worker, not SIGKILLed with clients on it.
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--workers", "2"}));
  const auto port = serving_port(baton);
  LoadClient load({.port = port, .keepalive_connections = 2, .close_connections = 4});
  ASSERT_TRUE(traffic_flows(load, 300));
  const std::string go = dir.worker() + ".go";
  ASSERT_EQ(::mkfifo(go.c_str(), 0600), 0);
  // Worker 2.1 waits until the test has seen 2.0 ready and serving, then fails.
  dir.use_script("if [ \"$BATON_WORKER_INDEX\" = 1 ]; then read line < " + go + "; exit 1; fi\nexec " +
                 KVSTORE_BIN + " \"$@\"");
  auto mark = baton.mark();
  baton.signal(SIGHUP);
  ASSERT_TRUE(baton.wait_for("worker 2\\.0 \\(pid [0-9]+\\) ready", mark)) << baton.log();
  ASSERT_TRUE(traffic_flows(load, 500)) << "2.0 accepts its share meanwhile";
  std::ofstream(go) << "fail now\n";
  ASSERT_TRUE(baton.wait_for("upgrade to generation 2 failed: worker 2\\.1 .*exited with status 1; "
                             "generation 1 keeps serving", mark))
      << baton.log();
  ASSERT_TRUE(baton.wait_for("generation 2 retired", mark)) << baton.log();
  EXPECT_EQ(baton.count("worker 2\\.0 .*killed by SIGKILL", mark), 0u) << baton.log();
  ASSERT_TRUE(traffic_flows(load, 300));
  LoadStats stats = load.stop();
  EXPECT_EQ(stats.failed, 0u) << (stats.first_errors.empty() ? "" : stats.first_errors[0]);
}

}  // namespace
}  // namespace testing_support
