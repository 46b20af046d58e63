// handoff_pause: how long a handoff upgrade pauses a client, next to the raw
// floor of this machine measured in the same run.
//
//   build/bin/handoff_pause            state 1 MiB / 64 MiB / 1 GiB x 100 / 10,000 connections,
//                                      one-part form, and pre-copy under 0 / 1,000 / 10,000 writes/s
//   build/bin/handoff_pause --quick    1 MiB x 100, one-part and pre-copy at 1,000 writes/s (CI)
//   build/bin/handoff_pause --only 64,10000   one state size and connection count
//
// For each case: baton --mode handoff supervising kvstore on 127.0.0.1, the
// store filled with 1 MiB values, N keep-alive connections open, one more
// connection probing GET /healthz back to back, and a writer at a fixed
// rate. After SIGHUP it reports
//   probe    the client's view: the probe's slowest request during the upgrade
//   pause    baton's view: from HANDOFF (pre-copy: from PRECOPIED) to COMMIT
//   floor    what the pause carried (state not pre-copied, the fds of the
//            connections not lent ahead, the ids of those lent) at this
//            machine's socketpair and SCM_RIGHTS speed
//   +watch   the floor plus registering every connection for reading
//            (epoll_ctl ADD): the one thing per connection the successor
//            still does in the pause once the fds went ahead
//   precopy  how long the state streamed (and connections went ahead) while
//            the old worker served
// and baton's RSS before and after (it must not grow with the state: the
// state flows worker to worker).
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "baton/handoff_stream.h"
#include "baton/unique_fd.h"
#include "support/baton_process.h"
#include "support/http_client.h"
#include "support/proc.h"

using namespace std::chrono;
using testing_support::BatonProcess;

namespace {

double seconds_since(steady_clock::time_point t) { return duration<double>(steady_clock::now() - t).count(); }

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "handoff_pause: %s\n", what.c_str());
  std::exit(1);
}

// Bytes per second through a SOCK_SEQPACKET socketpair in 60 KiB datagrams,
// the size of a STATE_CHUNK.
double socketpair_bandwidth() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
  baton::UniqueFd a(sv[0]), b(sv[1]);
  constexpr std::size_t kChunk = 60 * 1024, kTotal = std::size_t{512} << 20;
  std::thread reader([&] {
    std::vector<char> buf(kChunk);
    for (std::size_t got = 0; got < kTotal;) {
      ssize_t n = ::recv(b.get(), buf.data(), buf.size(), 0);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
  });
  std::vector<char> chunk(kChunk, 'x');
  auto t0 = steady_clock::now();
  for (std::size_t sent = 0; sent < kTotal; sent += kChunk) ::send(a.get(), chunk.data(), chunk.size(), 0);
  reader.join();
  return static_cast<double>(kTotal) / seconds_since(t0);
}

// Seconds per fd passed with SCM_RIGHTS, in batches of 253, received and closed.
// A one-byte datagram with room for fds in `control`: the raw SCM_RIGHTS
// floor, without baton's framing.
struct OneByteMessage {
  explicit OneByteMessage(std::vector<char>& control) {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
  }
  OneByteMessage(const OneByteMessage&) = delete;  // msg points into this object
  char byte = 'f';
  iovec iov{&byte, 1};
  msghdr msg{};
};

double scm_rights_cost_per_fd() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
  baton::UniqueFd a(sv[0]), b(sv[1]);
  int tcp[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, tcp) != 0) die("socketpair");
  baton::UniqueFd s0(tcp[0]), s1(tcp[1]);
  constexpr int kBatch = 253, kBatches = 200;
  std::thread reader([&] {
    std::vector<char> control(CMSG_SPACE(sizeof(int) * kBatch));
    for (int i = 0; i < kBatches; ++i) {
      OneByteMessage m(control);
      if (::recvmsg(b.get(), &m.msg, MSG_CMSG_CLOEXEC) <= 0) break;
      msghdr& msg = m.msg;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        int n = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int k = 0; k < n; ++k) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof fd);
          ::close(fd);
        }
      }
    }
  });
  std::vector<int> fds(kBatch, s0.get());
  std::vector<char> control(CMSG_SPACE(sizeof(int) * kBatch));
  auto t0 = steady_clock::now();
  for (int i = 0; i < kBatches; ++i) {
    OneByteMessage m(control);
    baton::attach_fds(m.msg, control, fds);
    if (::sendmsg(a.get(), &m.msg, 0) < 0) die(std::string("sendmsg: ") + std::strerror(errno));
  }
  reader.join();
  return seconds_since(t0) / (kBatch * kBatches);
}

// Seconds to register one socket for reading with epoll, as the successor's
// loop does for each connection when it starts serving.
double epoll_add_cost_per_fd(std::size_t count) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
  baton::UniqueFd s0(sv[0]), s1(sv[1]), ep(::epoll_create1(EPOLL_CLOEXEC));
  std::vector<baton::UniqueFd> fds;  // epoll keys on the fd: dups count as sockets of their own
  for (std::size_t i = 0; i < count; ++i) fds.emplace_back(::fcntl(s0.get(), F_DUPFD_CLOEXEC, 3));
  auto t0 = steady_clock::now();
  for (auto& fd : fds) {
    epoll_event ev{EPOLLIN, {.fd = fd.get()}};
    if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd.get(), &ev) != 0) die(std::string("epoll_ctl: ") + std::strerror(errno));
  }
  return seconds_since(t0) / static_cast<double>(count);
}

// This machine's speed for what a pause must move, measured in this run.
struct Floor {
  double bandwidth = 0;  // bytes/s through the link
  double per_fd = 1;     // s per fd over SCM_RIGHTS
  double per_watch = 1;  // s per epoll_ctl ADD
};

// baton's own part of a handoff, without any application: the state stream
// (chunks, checksum, framing) and the connection batches, in MiB/s and us/fd.
double stream_bandwidth(std::size_t total) {
  auto p = baton::Channel::make_pair();
  if (!p) die(p.status().message());
  baton::Channel a = std::move(p->first), b = std::move(p->second);
  const std::vector<char> block(1 << 20, 'x');
  auto t0 = steady_clock::now();
  std::thread sender([&] {
    auto r = baton::send_state(a, 1, [&](std::ostream& out) {
      for (std::size_t i = 0; i < total; i += block.size()) out.write(block.data(), static_cast<std::streamsize>(block.size()));
    }, baton::Channel::Clock::now() + 5min);
    if (!r) die(r.status().message());
  });
  std::vector<char> sink(1 << 20);
  auto r = baton::receive_state(b, {.accepted = {1}}, [&](std::istream& in, std::uint32_t) {
    while (in.read(sink.data(), static_cast<std::streamsize>(sink.size()))) {
    }
  }, baton::Channel::Clock::now() + 5min);
  sender.join();
  if (!r) die(r.status().message());
  return static_cast<double>(total) / seconds_since(t0);
}

double connection_cost_per_fd(std::size_t count) {
  auto p = baton::Channel::make_pair();
  if (!p) die(p.status().message());
  baton::Channel a = std::move(p->first), b = std::move(p->second);
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
  baton::UniqueFd s0(sv[0]), s1(sv[1]);
  std::vector<baton::ExportedConnection> out(count, baton::ExportedConnection{s0.get(), "GET / HTTP/1.1\r\n", {}});
  auto t0 = steady_clock::now();
  std::thread sender([&] {
    if (baton::Status st = baton::send_connections(a, out, nullptr, baton::Channel::Clock::now() + 5min); !st) die(st.message());
  });
  auto got = baton::receive_connections(b, static_cast<std::uint32_t>(count), nullptr, baton::Channel::Clock::now() + 5min);
  sender.join();
  if (!got) die(got.status().message());
  return seconds_since(t0) / static_cast<double>(count);
}

// One configuration: how much state, how many idle connections, how many
// writes per second during the handoff, and which form kvstore hands off in.
struct Case {
  std::size_t state_mib, connections;
  int writes_per_second;
  bool precopy;
};

struct Row {
  Case c;
  std::uint64_t state_bytes = 0, precopy_bytes = 0, connections = 0, ahead = 0;
  double pause_ms = 0, probe_ms = 0, precopy_ms = 0, floor_ms = 0, watch_floor_ms = 0, writes_done_per_second = 0;
  long rss_before = 0, rss_after = 0;
};

void fill_store(std::uint16_t port, std::size_t mib) {
  auto filler = testing_support::connect_local(port, 60'000);
  if (!filler) die(filler.status().message());
  const std::string value((1 << 20) - 1024, 'v');
  for (std::size_t i = 0; i < mib; ++i) {
    auto r = testing_support::exchange(filler->get(), "PUT", "/kv/blob" + std::to_string(i), value);
    if (!r || r->status != 200) die("filling the store failed");
  }
}

std::vector<baton::UniqueFd> open_idle_connections(std::uint16_t port, std::size_t count) {
  std::vector<baton::UniqueFd> open;
  for (std::size_t i = 0; i < count; ++i) {
    auto c = testing_support::connect_local(port, 60'000);
    if (!c) die("connection " + std::to_string(i) + ": " + c.status().message());
    if (!testing_support::exchange(c->get(), "GET", "/healthz")) die("request on connection " + std::to_string(i));
    open.push_back(std::move(c.value()));
  }
  return open;
}

// Load beside the handoff, on threads of its own: a probe sending GET /healthz
// back to back (its slowest request is the pause a client sees), and a
// writer PUTting 100-byte values over 10,000 keys at a fixed rate.
class ClientLoad {
 public:
  ClientLoad(std::uint16_t port, int writes_per_second) : started_(steady_clock::now()) {
    threads_.emplace_back([this, port] { probe(port); });
    if (writes_per_second > 0) threads_.emplace_back([this, port, writes_per_second] { write(port, writes_per_second); });
  }
  // Stops both; returns the writes per second achieved.
  double stop() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    return static_cast<double>(writes_) / seconds_since(started_);
  }
  double slowest_ms() const { return slowest_ms_; }

 private:
  void probe(std::uint16_t port) {
    auto c = testing_support::connect_local(port, 300'000);
    while (c && !stop_) {
      auto t0 = steady_clock::now();
      if (!testing_support::exchange(c->get(), "GET", "/healthz")) return;
      slowest_ms_ = std::max(slowest_ms_, seconds_since(t0) * 1000);
    }
  }
  void write(std::uint16_t port, int per_second) {
    auto c = testing_support::connect_local(port, 300'000);
    const std::string value(100, 'w');
    const auto period = duration_cast<steady_clock::duration>(duration<double>(1.0 / per_second));
    auto next = steady_clock::now();
    for (std::uint64_t n = 0; c && !stop_; ++n, next += period) {
      std::this_thread::sleep_until(next);  // pacing the load, not waiting for an event
      auto r = testing_support::exchange(c->get(), "PUT", "/kv/w" + std::to_string(n % 10'000), value);
      if (!r || r->status != 200) die("a write failed during the handoff");
      ++writes_;
    }
  }

  steady_clock::time_point started_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> writes_{0};
  double slowest_ms_ = 0;
  std::vector<std::thread> threads_;
};

Row run_case(const Case& c, const Floor& floor) {
  Row row{c};
  std::vector<std::string> args{"--mode", "handoff", "--handoff-timeout", "5m", "--listen", "http=tcp://127.0.0.1:0",
                                "--", KVSTORE_BIN};
  if (!c.precopy) args.push_back("--no-precopy");
  BatonProcess baton(args);
  const auto port = baton.port();
  if (!baton.wait_for("generation 1 serving")) die("baton never served:\n" + baton.log());
  fill_store(port, c.state_mib);
  std::vector<baton::UniqueFd> idle = open_idle_connections(port, c.connections);

  ClientLoad load(port, c.writes_per_second);
  row.rss_before = testing_support::rss_kib(baton.pid());
  auto mark = baton.mark();
  baton.signal(SIGHUP);
  auto done = baton.wait_for("upgrade to generation 2 complete; handed over ([0-9]+) bytes of state and ([0-9]+) "
                             "connections; paused ([0-9.]+) ms( after pre-copying ([0-9]+) bytes and lending ([0-9]+) "
                             "connections ahead while serving for ([0-9.]+) ms)?",
                             mark, 5min);
  if (!done) die("handoff did not complete:\n" + baton.log());
  row.rss_after = testing_support::rss_kib(baton.pid());
  if (!baton.wait_for("generation 1 retired", mark, 5min)) die("old generation never exited");
  row.writes_done_per_second = load.stop();
  if (std::getenv("HANDOFF_PAUSE_VERBOSE")) std::fputs(baton.log().c_str(), stderr);
  row.state_bytes = std::stoull(done->groups[1]);
  row.connections = std::stoull(done->groups[2]);
  row.pause_ms = std::stod(done->groups[3]);
  if (!done->groups[5].empty()) {
    row.precopy_bytes = std::stoull(done->groups[5]);
    row.ahead = std::stoull(done->groups[6]);
    row.precopy_ms = std::stod(done->groups[7]);
  }
  row.probe_ms = load.slowest_ms();
  // What the pause itself carried: the state not pre-copied, the fds not lent
  // ahead, and an id (24 bytes with its empty strings) for each one lent.
  const double in_pause = static_cast<double>(row.state_bytes - row.precopy_bytes + 24 * row.ahead);
  row.floor_ms = (in_pause / floor.bandwidth + static_cast<double>(row.connections - row.ahead) * floor.per_fd) * 1000;
  row.watch_floor_ms = row.floor_ms + static_cast<double>(row.connections) * floor.per_watch * 1000;
  return row;
}

void print_header() {
  std::printf("%9s %7s %8s %9s | %9s %9s %11s %7s %9s %7s %9s %7s | %10s %8s | %s\n", "state", "conns", "writes/s",
              "form", "probe ms", "pause ms", "in pause", "ahead", "floor ms", "ratio", "+watch ms", "ratio",
              "precopy ms", "written", "baton RSS KiB");
}

void print_row(const Row& r) {
  const double in_pause_mib = static_cast<double>(r.state_bytes - r.precopy_bytes) / (1 << 20);
  std::printf("%5zu MiB %7zu %8d %9s | %9.1f %9.1f %7.2f MiB %7llu %9.2f %6.1fx %9.2f %6.1fx | %10.1f %8.0f | %ld -> "
              "%ld\n",
              r.c.state_mib, r.c.connections, r.c.writes_per_second, r.c.precopy ? "pre-copy" : "one-part",
              r.probe_ms, r.pause_ms, in_pause_mib, static_cast<unsigned long long>(r.ahead), r.floor_ms,
              r.probe_ms / std::max(r.floor_ms, 0.001), r.watch_floor_ms, r.probe_ms / std::max(r.watch_floor_ms, 0.001),
              r.precopy_ms, r.writes_done_per_second, r.rss_before, r.rss_after);
  std::fflush(stdout);
}

// "--only MIB,CONNS": one state size and connection count, every form and rate.
struct Selection {
  bool quick = false;
  std::size_t only_mib = 0, only_conns = 0;  // 0: all
};

Selection parse_args(int argc, char** argv) {
  Selection s;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      s.quick = true;
    } else if (a == "--only" && i + 1 < argc &&
               std::sscanf(argv[++i], "%zu,%zu", &s.only_mib, &s.only_conns) == 2) {
    } else {
      die("usage: handoff_pause [--quick] [--only STATE_MIB,CONNECTIONS]   (e.g. --only 64,10000)");
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const Selection selection = parse_args(argc, argv);
  const bool quick = selection.quick;
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &lim);

  // The best of three: the floor is what this machine can do, not what a noisy moment allowed.
  Floor floor;
  for (int i = 0; i < 3; ++i) {
    floor.bandwidth = std::max(floor.bandwidth, socketpair_bandwidth());
    floor.per_fd = std::min(floor.per_fd, scm_rights_cost_per_fd());
    floor.per_watch = std::min(floor.per_watch, epoll_add_cost_per_fd(quick ? 1000 : 10'000));
  }
  std::printf("floor on this machine: socketpair %.0f MiB/s in 60 KiB datagrams; SCM_RIGHTS %.2f us per fd; "
              "epoll_ctl ADD %.2f us per socket\n",
              floor.bandwidth / (1 << 20), floor.per_fd * 1e6, floor.per_watch * 1e6);
  const std::size_t stream_bytes = quick ? std::size_t{64} << 20 : std::size_t{1} << 30;
  double stream = 0, conn_cost = 1;
  for (int i = 0; i < 3; ++i) {
    stream = std::max(stream, stream_bandwidth(stream_bytes));
    conn_cost = std::min(conn_cost, connection_cost_per_fd(quick ? 1000 : 10'000));
  }
  std::printf("baton alone (no application): state stream %.0f MiB/s (%.1fx the floor's time); "
              "connections %.2f us each (%.1fx)\n",
              stream / (1 << 20), floor.bandwidth / stream, conn_cost * 1e6, conn_cost / floor.per_fd);
  std::printf("kvstore end to end (its own serialization and memory included). probe: the slowest GET the "
              "probing client saw; pause: baton's clock, from the pause's start to COMMIT; ahead: connections lent "
              "before the pause; floor: the bytes and fds sent in the pause at the floor's speed; +watch: and every "
              "connection registered with epoll; ratio: probe / floor; written: writes per second achieved\n");
  std::vector<std::size_t> sizes = quick ? std::vector<std::size_t>{1} : std::vector<std::size_t>{1, 64, 1024};
  std::vector<std::size_t> conns = quick ? std::vector<std::size_t>{100} : std::vector<std::size_t>{100, 10'000};
  if (selection.only_mib != 0) {
    sizes = {selection.only_mib};
    conns = {selection.only_conns};
  }
  const std::vector<int> rates = quick ? std::vector<int>{1'000} : std::vector<int>{0, 1'000, 10'000};
  print_header();
  for (auto mib : sizes) {
    for (auto n : conns) {
      print_row(run_case({mib, n, 0, false}, floor));  // the one-part form: the whole state in the pause
      for (int rate : rates) print_row(run_case({mib, n, rate, true}, floor));
    }
  }
  return 0;
}
