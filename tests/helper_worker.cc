// Modes:
//   exit-now       exits with status 3 before saying anything
//   never-ready    says HELLO, gets WELCOME, never says READY
//   ignore-drain   becomes READY, then ignores DRAIN and SIGTERM (needs SIGKILL)
//   report-error   says HELLO, then ERROR "cannot open /data/kv.db"
//   garbage        writes bytes that are not a baton message on the channel
//   oversized      sends a 70 KiB datagram
//   hello-with-fd  sends HELLO with an fd attached (workers never send fds)
//   ready-first    sends READY before HELLO
//   report-fds     prints the fds it was started with, then runs as a good worker
//   orphan-maker   a good worker whose child leaves a grandchild behind, orphaned
//   huge-hello     HELLO whose name claims 2^40 bytes
//   fd-flood       HELLO carrying 253 fds, announced
//   rogue-index-1  worker index 1 turns rogue after READY (sends garbage); others behave
//   records-signals  a good worker that prints "got SIGUSR1" (USR2, WINCH, ALRM) for each it receives
//   ready-raw      speaks the protocol by hand: HELLO, READY, and never FEATURES (so no heartbeat)
//   stops-itself   a good libbaton worker that stops itself (SIGSTOP) once READY: a hung worker
//   spins          a good libbaton worker whose loop, once READY, runs spin_forever_in_a_callback()
//   holds-clients  says "hi\n" to each client of listener "http" and keeps it open; on DRAIN it stops
//                  accepting, and keeps its clients until SIGTERM (a drain held open by slow clients)
#include "helper_worker.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <dirent.h>

#include <csignal>
#include <cstring>
#include <cstdlib>
#include <string>
#include <cstdio>
#include <vector>

#include "baton/channel.h"
#include "baton/worker.h"

namespace testing_support {
namespace {

// A helper never outlives its supervisor: each one waits for its channel to close.

// For helpers that speak raw bytes: ignore whatever arrives, exit on EOF.
[[noreturn]] void exit_when_channel_closes(const baton::Channel& channel) {
  char buf[128];
  for (;;) {
    pollfd p{channel.fd(), POLLIN, 0};
    if (::poll(&p, 1, -1) < 0) continue;
    if (::recv(channel.fd(), buf, sizeof buf, 0) <= 0) std::_Exit(0);
  }
}

std::unique_ptr<baton::Worker> connect_or_die() {
  auto w = baton::Worker::create(uv_default_loop(), {.name = "helper"});
  if (!w) {
    std::fprintf(stderr, "helper: %s\n", w.status().message().c_str());
    std::_Exit(1);
  }
  return std::move(w.value());
}

// For libbaton helpers: run the loop until DRAIN (or, with ignore_drain, until
// baton is gone); an ignored DRAIN leaves the process waiting for SIGKILL.
[[noreturn]] void serve(baton::Worker& w, bool ignore_drain = false) {
  w.on_drain([ignore_drain](const baton::DrainRequest& d) {
    if (!ignore_drain || d.reason == baton::DrainRequest::Reason::kSupervisorGone) std::_Exit(0);
  });
  uv_run(uv_default_loop(), UV_RUN_DEFAULT);
  for (;;) ::pause();
}

// Raw modes speak on fd 3 themselves; the others go through libbaton.
baton::Channel raw_channel() { return baton::Channel(baton::UniqueFd(3)); }

int exit_now() { return 3; }

int never_ready() {
  auto w = connect_or_die();
  serve(*w);
}

int records_signals() {
  for (int s : {SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM})
    std::signal(s, [](int n) {
      // write() is async-signal-safe; stdio is not.
      char line[32] = "got SIG";
      const char* name = sigabbrev_np(n);
      std::size_t len = 7;
      for (; *name && len < sizeof line - 1; ++name) line[len++] = *name;
      line[len++] = '\n';
      (void)::write(1, line, len);
    });
  auto w = connect_or_die();
  if (!w->ready()) return 1;
  serve(*w);
}

int ignore_drain() {
  std::signal(SIGTERM, SIG_IGN);
  auto w = connect_or_die();
  if (!w->ready()) return 1;
  serve(*w, /*ignore_drain=*/true);
}

int report_error() {
  auto w = connect_or_die();
  (void)w->report_error("cannot open /data/kv.db");
  serve(*w);
}

int report_hostile_error() {
  // A newline that forges a log line, and bytes that are not UTF-8.
  auto w = connect_or_die();
  (void)w->report_error("disk \xff\xfe gone\n2026-11-23 info baton[1] upgrade complete");
  serve(*w);
}

int garbage() {
  auto raw = raw_channel();
  const char junk[] = "GET / HTTP/1.1\r\n\r\n this is not a baton message";
  ::send(raw.fd(), junk, sizeof junk, 0);
  exit_when_channel_closes(raw);
}

int oversized() {
  auto raw = raw_channel();
  std::vector<char> big(70 * 1024, 'x');
  ::send(raw.fd(), big.data(), big.size(), 0);
  exit_when_channel_closes(raw);
}

int hello_with_fd() {
  auto raw = raw_channel();
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  (void)raw.send(baton::Hello{baton::kProtocolVersion, static_cast<std::uint32_t>(::getpid()), "helper"},
                 std::vector<int>{devnull});
  exit_when_channel_closes(raw);
}

int report_fds() {
  std::string fds;
  DIR* d = ::opendir("/proc/self/fd");
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.' || std::atoi(e->d_name) == ::dirfd(d)) continue;
    fds += (fds.empty() ? "" : " ") + std::string(e->d_name);
  }
  ::closedir(d);
  std::fprintf(stderr, "helper fds at exec: %s\n", fds.c_str());
  auto w = connect_or_die();
  if (!w->ready()) return 1;
  serve(*w);
}

int orphan_maker() {
  auto w = connect_or_die();
  int gate[2];
  if (::pipe(gate) != 0) return 1;
  pid_t child = ::fork();
  if (child == 0) {
    pid_t grandchild = ::fork();
    if (grandchild == 0) {
      ::close(gate[1]);
      char c;
      while (::read(gate[0], &c, 1) > 0) {
      }  // EOF: our parent is gone and we are an orphan now
      std::_Exit(7);
    }
    std::fprintf(stderr, "helper orphan pid %d\n", static_cast<int>(grandchild));
    std::_Exit(0);  // closes its end of the gate
  }
  ::close(gate[0]);
  ::close(gate[1]);
  int status;
  ::waitpid(child, &status, 0);
  if (!w->ready()) return 1;
  serve(*w);
}

int huge_hello() {
  auto raw = raw_channel();
  std::vector<std::uint8_t> body{1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0};
  (void)raw.send_raw(baton::MessageType::kHello, body, {});
  exit_when_channel_closes(raw);
}

int fd_flood() {
  auto raw = raw_channel();
  std::vector<int> fds(253, ::open("/dev/null", O_RDONLY | O_CLOEXEC));
  (void)raw.send(baton::Hello{baton::kProtocolVersion, static_cast<std::uint32_t>(::getpid()), "flood"}, fds);
  exit_when_channel_closes(raw);
}

int rogue_index_1() {
  const char* index = std::getenv("BATON_WORKER_INDEX");  // libbaton unsets it
  const bool rogue = index != nullptr && std::string(index) == "1";
  auto w = connect_or_die();
  if (!w->ready()) return 1;
  if (rogue) {
    // Bytes that are no message, on its own channel (libbaton keeps it at fd 3):
    // the supervisor must reject this worker, and only this one.
    const char junk[] = "I am worker 0 and I am READY";
    ::send(3, junk, sizeof junk, 0);
  }
  serve(*w);
}

int ready_raw() {
  auto raw = raw_channel();
  (void)raw.send(baton::Hello{baton::kProtocolVersion, static_cast<std::uint32_t>(::getpid()), "raw"});
  auto welcome = raw.receive_wait(std::chrono::seconds(10));
  if (!welcome || welcome->outcome != baton::Channel::Outcome::kMessage) return 1;
  (void)raw.send(baton::Ready{});
  exit_when_channel_closes(raw);
}

int stops_itself() {
  auto w = connect_or_die();
  if (!w->ready()) return 1;
  ::raise(SIGSTOP);  // its loop never runs again: nothing answers baton's PING
  serve(*w);
}

// Named in the test: baton's stack capture must find it (not inlined, never returns).
[[gnu::noinline]] void spin_forever_in_a_callback() {
  static volatile std::uint64_t turns = 0;
  for (;;) turns = turns + 1;
}

int spins() {
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);  // --hang-signal ABRT must not leave a core file behind
  auto w = connect_or_die();
  if (!w->ready()) return 1;
  static uv_timer_t soon;
  uv_timer_init(uv_default_loop(), &soon);
  uv_timer_start(&soon, [](uv_timer_t*) { spin_forever_in_a_callback(); }, 0, 0);
  serve(*w);
}

// The listener and its watch, for the callbacks (one per process).
int held_listener = -1;
uv_poll_t accepting;

int holds_clients() {
  auto w = connect_or_die();
  auto fd = w->take_listener("http");
  if (!fd || !w->ready()) return 1;
  held_listener = fd->release();
  uv_poll_init(uv_default_loop(), &accepting, held_listener);
  uv_poll_start(&accepting, UV_READABLE, [](uv_poll_t*, int, int) {
    const int client = ::accept4(held_listener, nullptr, nullptr, SOCK_CLOEXEC);
    // Kept open, never read: it ends with the process.
    if (client >= 0) (void)::write(client, "hi\n", 3);
  });
  w->on_drain([](const baton::DrainRequest& d) {
    if (d.reason == baton::DrainRequest::Reason::kSupervisorGone) std::_Exit(0);
    uv_poll_stop(&accepting);
    ::close(held_listener);
  });
  uv_run(uv_default_loop(), UV_RUN_DEFAULT);
  for (;;) ::pause();
}

int ready_first() {
  auto raw = raw_channel();
  (void)raw.send(baton::Ready{});
  exit_when_channel_closes(raw);
}

// Each mode by name, as libuv's test runner lists its tests.
struct HelperMode {
  const char* name;
  int (*run)();
};
constexpr HelperMode kModes[] = {
    {"exit-now", exit_now},
    {"never-ready", never_ready},
    {"records-signals", records_signals},
    {"ignore-drain", ignore_drain},
    {"report-error", report_error},
    {"report-hostile-error", report_hostile_error},
    {"garbage", garbage},
    {"oversized", oversized},
    {"hello-with-fd", hello_with_fd},
    {"report-fds", report_fds},
    {"orphan-maker", orphan_maker},
    {"huge-hello", huge_hello},
    {"fd-flood", fd_flood},
    {"rogue-index-1", rogue_index_1},
    {"ready-first", ready_first},
    {"holds-clients", holds_clients},
    {"ready-raw", ready_raw},
    {"stops-itself", stops_itself},
    {"spins", spins},
};

}  // namespace

std::string self_exe() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

int run_helper(const std::string& mode) {
  for (const HelperMode& m : kModes)
    if (mode == m.name) return m.run();
  std::fprintf(stderr, "helper: unknown mode %s\n", mode.c_str());
  return 2;
}

}  // namespace testing_support
