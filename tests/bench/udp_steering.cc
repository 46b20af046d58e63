// udp_steering: what a forwarded datagram costs (UDP flow steering).
//
//   build/bin/udp_steering          5 rounds, 5000 datagrams a phase
//   build/bin/udp_steering --quick  3 rounds, 500 (what CI runs)
//
// Each round starts baton -w 1 over udpsession (pinned to CPU 0; the client
// runs on CPU 1), opens 4 sessions on generation 1, upgrades, and opens 4 on
// generation 2. Generation 1 drains but holds its sessions: it no longer
// reads the socket, so every datagram of its sessions is read by generation 2
// and forwarded to its inbox. The client then alternates one DATA on an old
// session (forwarded) with one on a new one (direct), one at a time, and
// reports round-trip medians and p99s of each; then sends a run of each kind
// alone and reports the CPU time per datagram of the reader and of the owner
// (/proc/PID/schedstat), in alternating order by round.
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "sched_times.h"
#include "support/baton_process.h"
#include "support/bench_stats.h"
#include "support/udp_session.h"

using testing_support::BatonProcess;
using testing_support::UdpSession;

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "udp_steering: %s\n", what.c_str());
  std::exit(1);
}

double on_cpu_us(pid_t pid) {
  auto t = baton::read_sched_times(pid);
  if (!t) die("cannot read /proc/" + std::to_string(pid) + "/schedstat");
  return static_cast<double>(t->on_cpu.count()) / 1000.0;
}

struct Round {
  std::vector<double> direct_us, forwarded_us;  // round trips
  double direct_cpu = 0;                        // µs per datagram: generation 2 serving its own
  double forwarder_cpu = 0, owner_cpu = 0;      // forwarded: generation 2 reading, generation 1 serving
};

std::vector<UdpSession> open_sessions(std::uint16_t port, std::uint64_t generation) {
  std::vector<UdpSession> sessions;
  for (int i = 0; i < 4; ++i) {
    auto s = UdpSession::open({.port = port});
    if (!s) die("OPEN: " + s.status().message());
    if (s->generation_opened() != generation) die("a session opened on the wrong generation");
    sessions.push_back(std::move(s.value()));
  }
  return sessions;
}

pid_t ready_pid(const BatonProcess& baton, const std::string& worker) {
  auto m = baton.wait_for("worker " + worker + " \\(pid ([0-9]+)\\) ready");
  if (!m) die("worker " + worker + " never ready:\n" + baton.log());
  return static_cast<pid_t>(std::stol(m->groups[1]));
}

void send_run(std::vector<UdpSession>& sessions, int count, std::vector<double>* rtt = nullptr) {
  for (int i = 0; i < count; ++i) {
    auto a = sessions[static_cast<std::size_t>(i) % sessions.size()].data();
    if (!a) die("DATA: " + a.status().message());
    if (rtt) rtt->push_back(static_cast<double>(a->rtt.count()));
  }
}

Round measure(int datagrams, bool forwarded_first) {
  BatonProcess baton({"--listen", "udp=udp://127.0.0.1:0", "--drain-timeout", "120s", "--", UDPSESSION_BIN,
                      "--idle-ms", "120000"},
                     std::nullopt, BatonProcess::Output::kCaptured, {"taskset", "-c", "0"});
  auto port_line = baton.wait_for("listening udp=udp://127\\.0\\.0\\.1:([0-9]+)");
  if (!port_line) die("no UDP listener:\n" + baton.log());
  const auto port = static_cast<std::uint16_t>(std::stoi(port_line->groups[1]));
  const pid_t old_worker = ready_pid(baton, "1\\.0");
  auto old_sessions = open_sessions(port, 1);
  baton.signal(SIGHUP);
  const pid_t new_worker = ready_pid(baton, "2\\.0");
  if (!baton.wait_for("upgrade to generation 2 complete")) die("no upgrade:\n" + baton.log());
  auto new_sessions = open_sessions(port, 2);

  Round r;
  for (int i = 0; i < datagrams; ++i) {
    send_run(old_sessions, 1, &r.forwarded_us);
    send_run(new_sessions, 1, &r.direct_us);
  }
  auto cpu_run = [&](std::vector<UdpSession>& sessions, double* reader, double* owner) {
    const double reader0 = on_cpu_us(new_worker), owner0 = on_cpu_us(old_worker);
    send_run(sessions, datagrams);
    *reader = (on_cpu_us(new_worker) - reader0) / datagrams;
    if (owner) *owner = (on_cpu_us(old_worker) - owner0) / datagrams;
  };
  for (int k = 0; k < 2; ++k) {
    if ((k == 0) == forwarded_first) cpu_run(old_sessions, &r.forwarder_cpu, &r.owner_cpu);
    else cpu_run(new_sessions, &r.direct_cpu, nullptr);
  }
  // Closed, so that generation 1 ends now and baton stops at once, leaving nothing behind.
  for (auto* sessions : {&old_sessions, &new_sessions})
    for (auto& s : *sessions)
      if (auto st = s.close(); !st) die("CLOSE: " + st.message());
  if (!baton.wait_for("generation 1 retired")) die("generation 1 did not finish:\n" + baton.log());
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  const int rounds = quick ? 3 : 5;
  const int datagrams = quick ? 500 : 5000;
  testing_support::pin_to_cpu(1);
  std::vector<double> direct_med, direct_p99, fwd_med, fwd_p99, direct_cpu, forwarder_cpu, owner_cpu;
  for (int i = 0; i < rounds; ++i) {
    const Round r = measure(datagrams, i % 2 == 0);
    using testing_support::median, testing_support::percentile;
    direct_med.push_back(median(r.direct_us));
    direct_p99.push_back(percentile(r.direct_us, 0.99));
    fwd_med.push_back(median(r.forwarded_us));
    fwd_p99.push_back(percentile(r.forwarded_us, 0.99));
    direct_cpu.push_back(r.direct_cpu);
    forwarder_cpu.push_back(r.forwarder_cpu);
    owner_cpu.push_back(r.owner_cpu);
    std::printf("round %d: round trip direct %.0f µs (p99 %.0f), forwarded %.0f µs (p99 %.0f); CPU per datagram "
                "direct %.1f µs, forwarded %.1f µs reader + %.1f µs owner\n",
                i + 1, direct_med.back(), direct_p99.back(), fwd_med.back(), fwd_p99.back(), r.direct_cpu,
                r.forwarder_cpu, r.owner_cpu);
  }
  using testing_support::median;
  std::printf("[ figures ] %d rounds x %d datagrams each kind, medians over rounds:\n", rounds, datagrams);
  std::printf("  round trip: direct %.0f µs (p99 %.0f), forwarded %.0f µs (p99 %.0f): +%.0f µs median (%.2fx), "
              "+%.0f µs p99\n",
              median(direct_med), median(direct_p99), median(fwd_med), median(fwd_p99),
              median(fwd_med) - median(direct_med), median(fwd_med) / median(direct_med),
              median(fwd_p99) - median(direct_p99));
  std::printf("  CPU per datagram: direct %.1f µs; forwarded %.1f µs in the reader + %.1f µs in the owner "
              "(the owner's share %.2fx a direct datagram's)\n",
              median(direct_cpu), median(forwarder_cpu), median(owner_cpu), median(owner_cpu) / median(direct_cpu));
  return 0;
}
