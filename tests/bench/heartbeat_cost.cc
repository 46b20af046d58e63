// heartbeat_cost: what --hang-timeout costs a busy worker.
//
//   build/bin/heartbeat_cost          7 rounds of 3 s per phase
//   build/bin/heartbeat_cost --quick  2 rounds of 1 s (what CI runs)
//
// Two batons supervise kvstore, both pinned to CPU 0: one without a
// heartbeat, one with --hang-timeout 1s (the shortest allowed: a PING every
// 250 ms, answered from kvstore's loop). The client runs on CPU 1 and loads
// one, then the other (the order alternating by round), with keep-alive GET
// /stats; it reports the median requests/s of each and their ratio.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "support/baton_process.h"
#include "support/bench_stats.h"
#include "support/load_client.h"

using testing_support::BatonProcess;
using testing_support::LoadClient;

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "heartbeat_cost: %s\n", what.c_str());
  std::exit(1);
}

std::unique_ptr<BatonProcess> start(std::vector<std::string> extra) {
  std::vector<std::string> args{"--listen", "http=tcp://127.0.0.1:0"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.insert(args.end(), {"--", KVSTORE_BIN});
  auto baton = std::make_unique<BatonProcess>(args, std::nullopt, BatonProcess::Output::kCaptured,
                                              std::vector<std::string>{"taskset", "-c", "0"});
  if (!baton->wait_for("generation 1 serving")) die("baton did not start:\n" + baton->log());
  return baton;
}

// Requests per second over `phase` of keep-alive load (2 connections).
double load(std::uint16_t port, std::chrono::seconds phase) {
  LoadClient client({.port = port, .keepalive_connections = 2, .close_connections = 0, .path = "/stats",
                     .max_duration = phase + std::chrono::seconds(5)});
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(phase);  // the phase's length: a measurement window, not a synchronization
  const auto stats = client.stop();
  if (stats.failed != 0) die(std::to_string(stats.failed) + " requests failed");
  return static_cast<double>(stats.ok) / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  const int rounds = quick ? 2 : 7;
  const std::chrono::seconds phase(quick ? 1 : 3);
  auto plain = start({});
  auto beating = start({"--hang-timeout", "1s", "--log-level", "debug"});
  if (!beating->wait_for("answers heartbeats")) die("kvstore never answered a heartbeat:\n" + beating->log());
  testing_support::pin_to_cpu(1);
  std::vector<double> off, on;
  for (int i = 0; i < rounds; ++i) {
    if (i % 2 == 0) {
      off.push_back(load(plain->port("http"), phase));
      on.push_back(load(beating->port("http"), phase));
    } else {
      on.push_back(load(beating->port("http"), phase));
      off.push_back(load(plain->port("http"), phase));
    }
  }
  if (beating->count("hung") != 0) die("a busy kvstore was declared hung:\n" + beating->log());
  const double m_off = testing_support::median(off), m_on = testing_support::median(on);
  std::printf("heartbeat_cost: %d rounds of %llds per phase, batons on CPU 0, client on CPU 1\n", rounds,
              static_cast<long long>(phase.count()));
  std::printf("without heartbeat:          median %.0f requests/s\n", m_off);
  std::printf("--hang-timeout 1s (4 PING/s): median %.0f requests/s, ratio %.3f\n", m_on, m_on / m_off);
  return 0;
}
