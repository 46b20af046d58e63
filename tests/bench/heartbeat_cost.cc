// heartbeat_cost: what --hang-timeout costs a busy worker.
//
//   build/bin/heartbeat_cost          9 rounds of 3 s per phase
//   build/bin/heartbeat_cost --quick  3 rounds of 1 s (what CI runs)
//
// Each round starts three batons over kvstore, all pinned to CPU 0: two
// without a heartbeat (the second says how much two identical batons
// differ), one with --hang-timeout 1s (the shortest allowed: a PING every
// 250 ms, answered from kvstore's loop). The client runs on CPU 1 and loads
// each in turn with keep-alive GET /stats; starting and loading orders rotate
// by round. It reports the median requests/s of each and their ratios.
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
  const int rounds = quick ? 3 : 9;  // a multiple of 3: each baton starts first, second and third as often
  const std::chrono::seconds phase(quick ? 1 : 3);
  testing_support::pin_to_cpu(1);
  // 0: without heartbeat; 1: its twin, also without (the noise floor); 2: --hang-timeout 1s.
  const std::vector<std::vector<std::string>> configs{{}, {}, {"--hang-timeout", "1s"}};
  std::vector<std::vector<double>> rate(3);
  for (int i = 0; i < rounds; ++i) {
    // Fresh batons every round, started and loaded in a rotated order: where a
    // baton starts and when it is loaded must not pass for what it runs.
    std::vector<std::unique_ptr<BatonProcess>> batons(3);
    for (int k = 0; k < 3; ++k) batons[(i + k) % 3] = start(configs[(i + k) % 3]);
    for (int k = 0; k < 3; ++k) {
      const int which = (i + 2 * k) % 3;
      rate[which].push_back(load(batons[which]->port("http"), phase));
    }
    if (batons[2]->count("hung") != 0) die("a busy kvstore was declared hung:\n" + batons[2]->log());
  }
  const double off = testing_support::median(rate[0]), twin = testing_support::median(rate[1]),
               on = testing_support::median(rate[2]);
  std::printf("heartbeat_cost: %d rounds of %llds per phase, fresh batons each round, on CPU 0; client on CPU 1\n",
              rounds, static_cast<long long>(phase.count()));
  std::printf("without heartbeat:               median %.0f requests/s\n", off);
  std::printf("without heartbeat, a twin baton: median %.0f requests/s, ratio %.3f (the noise floor)\n", twin,
              twin / off);
  std::printf("--hang-timeout 1s (4 PING/s):    median %.0f requests/s, ratio %.3f\n", on, on / off);
  return 0;
}
