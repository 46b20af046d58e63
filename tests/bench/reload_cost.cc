// reload_cost: what an upgrade every 500 ms costs the clients of a busy
// server, and where baton's part of an upgrade's time goes.
//
//   build/bin/reload_cost            3 rounds of 4 s phases per mode and load
//   build/bin/reload_cost --quick    1 round of 1 s phases (what CI runs)
//
// baton and kvstore run on CPU 0, the load on CPU 1. For each mode (drain,
// handoff) and each load, phases without and with upgrades alternate:
//   half capacity  an open loop at half the capacity measured first, each
//                  request's latency counted from when it was due (so a
//                  stall is not hidden by the client waiting it out)
//   saturation     a closed loop, requests back to back (as wrk does)
// Three batons run side by side, their phases interleaved: at the defaults
// (starting workers at --start-nice 19), at normal priority (0), and with
// four workers upgraded one at a time (-w 4 --rolling 1). It
// prints the medians over the rounds of p99 latency and throughput, their
// ratios (upgrades / none; p99 also against both batons' pooled phases
// without upgrades), where the slowest 1% fall after each SIGHUP, and the
// medians of baton's timeline per upgrade from its debug log: request ->
// workers exec'd, exec -> HELLO, HELLO -> READY or STANDBY, the old
// generation told to go -> retired; and of where the request -> READY time
// went: baton's loop and the new worker, each on a CPU or waiting for one.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/baton_process.h"
#include "support/bench_stats.h"
#include "support/http_client.h"

using namespace std::chrono;
using testing_support::BatonProcess;
using testing_support::median;
using testing_support::percentile;

namespace {

constexpr int kConnections = 8;
constexpr milliseconds kUpgradeEvery{500};  // a phase with upgrades: a SIGHUP at 500, 1000, ... ms

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "reload_cost: %s\n", what.c_str());
  std::exit(1);
}

// Where the slowest 1% of requests fall: by how long after the last SIGHUP
// they were due, in these bins (ms); the last bin counts those due before
// the first SIGHUP, kUpgradeEvery of the phase without one.
constexpr double kBinEdgesMs[] = {0, 1, 2, 5, 10, 20, 50, kUpgradeEvery.count()};
constexpr std::size_t kBins = std::size(kBinEdgesMs);  // 7 spans + "before the first"
using SlowBins = std::array<std::uint64_t, kBins>;

struct Sample {
  steady_clock::time_point due;
  double ms = 0;
};

struct PhaseResult {
  double p99_ms = 0, per_second = 0;
  std::uint64_t failed = 0;
  SlowBins slow{};  // with upgrades only
};

std::size_t bin_of(steady_clock::time_point due, const std::vector<steady_clock::time_point>& hups) {
  auto after = std::upper_bound(hups.begin(), hups.end(), due);
  if (after == hups.begin()) return kBins - 1;
  const double ms = duration<double, std::milli>(due - *(after - 1)).count();
  std::size_t b = 0;
  while (b + 2 < kBins && ms >= kBinEdgesMs[b + 1]) ++b;
  return b;
}

// One keep-alive connection's requests, open loop (`period` > 0: one due
// every period) or closed loop; reconnects when the server closes it.
void run_connection(std::uint16_t port, nanoseconds period, steady_clock::time_point until,
                    std::vector<Sample>& samples, std::atomic<std::uint64_t>& failed) {
  testing_support::pin_to_cpu(1);
  baton::UniqueFd conn;
  auto due = steady_clock::now();
  while (due < until) {
    if (period.count() > 0) std::this_thread::sleep_until(due);  // pacing the load, not waiting for an event
    const auto start = period.count() > 0 ? due : steady_clock::now();
    if (!conn) {
      auto c = testing_support::connect_local(port, 10'000);
      if (!c) {
        ++failed;
        due += period.count() > 0 ? period : milliseconds(1);
        continue;
      }
      conn = std::move(*c);
    }
    auto r = testing_support::exchange(conn.get(), "GET", "/");
    if (!r || r->status != 200) ++failed;
    if (!r || r->connection_close) conn = baton::UniqueFd();  // drain mode: the old worker let go of it
    if (r) samples.push_back({start, duration<double, std::milli>(steady_clock::now() - start).count()});
    due = period.count() > 0 ? due + period : steady_clock::now();
  }
}

// `rate` requests per second over all connections (0: a closed loop) for
// `length`; with `upgrades`, a SIGHUP to baton every 500 ms meanwhile.
PhaseResult run_phase(const BatonProcess& baton, std::uint16_t port, double rate, milliseconds length,
                      bool upgrades) {
  const auto until = steady_clock::now() + length;
  const nanoseconds period = rate > 0 ? nanoseconds(static_cast<long>(1e9 * kConnections / rate)) : nanoseconds(0);
  std::vector<std::vector<Sample>> samples(kConnections);
  std::atomic<std::uint64_t> failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kConnections; ++i)
    threads.emplace_back([&, i] { run_connection(port, period, until, samples[i], failed); });
  std::vector<steady_clock::time_point> hups;
  for (auto next = steady_clock::now() + kUpgradeEvery; upgrades && next < until; next += kUpgradeEvery) {
    std::this_thread::sleep_until(next);  // the upgrade schedule itself
    hups.push_back(steady_clock::now());
    baton.signal(SIGHUP);
  }
  for (auto& t : threads) t.join();
  std::vector<double> all;
  for (auto& conn : samples)
    for (const Sample& x : conn) all.push_back(x.ms);
  PhaseResult r{percentile(all, 0.99), static_cast<double>(all.size()) / duration<double>(length).count(), failed};
  for (auto& conn : samples)
    for (const Sample& x : conn)
      if (upgrades && x.ms >= r.p99_ms) ++r.slow[bin_of(x.due, hups)];
  return r;
}

// Medians over rounds of alternating phases without and with upgrades.
struct Comparison {
  std::vector<double> p99[2], rate[2];
  std::uint64_t failed[2] = {0, 0};
  SlowBins slow{};  // summed over the phases with upgrades
};

// A baton under test, with its port.
struct Server {
  const char* name;
  std::unique_ptr<BatonProcess> baton;
  std::uint16_t port = 0;
};

// Every round runs each server's phases in turn: A none, A upgrades, B none, B upgrades.
std::vector<Comparison> compare(std::vector<Server>& servers, double rate, milliseconds length, int rounds) {
  std::vector<Comparison> c(servers.size());
  for (int r = 0; r < rounds; ++r) {
    for (std::size_t s = 0; s < servers.size(); ++s) {
      for (int with = 0; with < 2; ++with) {
        PhaseResult p = run_phase(*servers[s].baton, servers[s].port, rate, length, with == 1);
        c[s].p99[with].push_back(p.p99_ms);
        c[s].rate[with].push_back(p.per_second);
        c[s].failed[with] += p.failed;
        for (std::size_t b = 0; b < kBins; ++b) c[s].slow[b] += p.slow[b];
      }
    }
  }
  return c;
}

// The batons differ only while they upgrade, so their phases without
// upgrades measure one thing: their pooled median is a steadier baseline
// than any one baton's three.
double pooled_baseline_p99(const std::vector<Comparison>& all) {
  std::vector<double> p99;
  for (const Comparison& c : all) p99.insert(p99.end(), c.p99[0].begin(), c.p99[0].end());
  return median(p99);
}

void print_comparison(const std::string& mode, const std::string& load, const Comparison& c, double pooled_p99) {
  const double p99[2] = {median(c.p99[0]), median(c.p99[1])}, rate[2] = {median(c.rate[0]), median(c.rate[1])};
  std::printf("%-22s %-12s | %8.2f %9.0f %6llu | %8.2f %9.0f %6llu | p99 %5.2fx (pooled %5.2fx)  throughput %5.3fx\n",
              mode.c_str(), load.c_str(), p99[0], rate[0], static_cast<unsigned long long>(c.failed[0]), p99[1],
              rate[1], static_cast<unsigned long long>(c.failed[1]), p99[1] / std::max(p99[0], 1e-6),
              p99[1] / std::max(pooled_p99, 1e-6), rate[1] / std::max(rate[0], 1e-6));
  std::fflush(stdout);
}

// Each bin's share of the slowest 1%, and (in brackets) the share an even
// spread over the phase would give it: where upgrades make requests slow.
void print_slow(const std::string& mode, const SlowBins& slow, milliseconds length) {
  const double total = std::max<double>(1, std::accumulate(slow.begin(), slow.end(), 0.0));
  const double every = static_cast<double>(kUpgradeEvery.count());
  const double upgrades = std::floor((length.count() - 1) / every);
  std::printf("%-22s slowest 1%% by time since the last SIGHUP:", mode.c_str());
  for (std::size_t b = 0; b + 1 < kBins; ++b)
    std::printf(" %g-%gms %.0f%% (%.1f%%)", kBinEdgesMs[b], kBinEdgesMs[b + 1], 100 * slow[b] / total,
                100 * upgrades * (kBinEdgesMs[b + 1] - kBinEdgesMs[b]) / length.count());
  std::printf(", before the first %.0f%% (%.1f%%)\n", 100 * slow[kBins - 1] / total, 100 * every / length.count());
}

// Every "<number> ms" of `pattern`'s first group in baton's log.
std::vector<double> logged_ms(const std::string& log, const std::string& pattern, int group = 1) {
  std::vector<double> out;
  const std::regex re(pattern);
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator(); ++it)
    out.push_back(std::stod((*it)[group].str()));
  return out;
}

void print_timeline(const std::string& mode, const std::string& log) {
  const auto exec = logged_ms(log, "its workers exec'd ([0-9.]+) ms after the request");
  const auto spawn = logged_ms(log, "fork\\+exec ([0-9.]+) ms");
  const auto hello = logged_ms(log, "HELLO ([0-9.]+) ms after exec");
  const auto ready = logged_ms(log, "(READY|STANDBY) ([0-9.]+) ms after HELLO", 2);
  const auto gone = logged_ms(log, "retired ([0-9.]+) ms after it was told to go");
  const auto paused = logged_ms(log, "; paused ([0-9.]+) ms");  // handoff mode
  if (exec.empty()) return void(std::printf("%-22s timeline: none (the upgrades ran in batches)\n", mode.c_str()));
  std::printf("%-22s timeline, medians of %zu upgrades: request -> exec'd %.2f ms (spawn itself %.2f), "
              "exec -> HELLO %.2f ms, HELLO -> READY/STANDBY %.2f ms, told to go -> retired %.2f ms",
              mode.c_str(), exec.size(), median(exec), median(spawn), median(hello), median(ready),
              median(gone));
  if (!paused.empty())
    std::printf(", handoff paused %.2f ms (max %.2f)", median(paused), *std::max_element(paused.begin(), paused.end()));
  std::printf("\n");
  const std::string cost =
      "its workers started ([0-9.]+) ms after the request; baton's loop: CPU ([0-9.]+) ms, waited ([0-9.]+) ms; "
      "new workers: CPU ([0-9.]+) ms, waited ([0-9.]+) ms";
  std::vector<double> part[6];
  for (int g = 1; g <= 5; ++g) part[g] = logged_ms(log, cost, g);
  std::printf("%-22s request -> READY/STANDBY %.2f ms: baton's loop on a CPU %.2f ms, waiting for one %.2f ms; "
              "the new worker on a CPU %.2f ms, waiting %.2f ms\n",
              mode.c_str(), median(part[1]), median(part[2]), median(part[3]), median(part[4]), median(part[5]));
}

// The batons compared: their names, and the flags that set them apart.
struct Variant {
  const char* name;
  std::vector<std::string> flags;
};
const std::vector<Variant>& variants() {
  static const std::vector<Variant> v{
      {"defaults", {}},  // --start-nice 19
      {"start-nice 0", {"--start-nice", "0"}},
      // Each upgrade replaces four workers one at a time (compared with its own phases without upgrades).
      {"-w 4 --rolling 1", {"-w", "4", "--rolling", "1"}},
  };
  return v;
}

Server start_server(const Variant& variant, const char* mode) {
  std::vector<std::string> args{"--mode", mode, "--log-level", "debug", "--listen", "http=tcp://127.0.0.1:0"};
  args.insert(args.end(), variant.flags.begin(), variant.flags.end());
  args.insert(args.end(), {"--", KVSTORE_BIN});
  Server s{variant.name, std::make_unique<BatonProcess>(args, std::nullopt, BatonProcess::Output::kCaptured,
                                                        std::vector<std::string>{"taskset", "-c", "0"})};
  if (!s.baton->wait_for("generation 1 serving")) die("baton never served:\n" + s.baton->log());
  s.port = s.baton->port();
  return s;
}

void run_mode(const char* mode, milliseconds length, int rounds) {
  std::vector<Server> servers;
  for (const Variant& v : variants()) servers.push_back(start_server(v, mode));
  const double capacity = run_phase(*servers[0].baton, servers[0].port, 0, length, false).per_second;
  const std::string half = "half " + std::to_string(static_cast<long>(capacity / 2)) + "/s";
  const auto at_half = compare(servers, capacity / 2, length, rounds);
  const auto saturated = compare(servers, 0, length, rounds);
  for (std::size_t s = 0; s < servers.size(); ++s) {
    const std::string name = std::string(mode) + ", " + servers[s].name;
    print_comparison(name, half, at_half[s], pooled_baseline_p99(at_half));
    print_comparison(name, "saturation", saturated[s], pooled_baseline_p99(saturated));
    print_slow(name, at_half[s].slow, length);
    print_timeline(name, servers[s].baton->log());
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  if (argc > 2 || (argc == 2 && !quick)) {
    std::fprintf(stderr, "usage: reload_cost [--quick]   (--quick: one round of 1 s phases, for CI)\n");
    return 2;
  }
  const milliseconds length = quick ? 1s : 4s;
  const int rounds = quick ? 1 : 3;
  if (std::thread::hardware_concurrency() < 2) std::printf("one CPU only: server and load share it\n");
  testing_support::pin_to_cpu(1);
  std::printf("reload_cost: baton + kvstore on CPU 0, %d keep-alive connections on CPU 1; %d round(s) of %lld ms "
              "phases, without | with a SIGHUP every 500 ms; medians of p99 (ms), requests/s, failed\n",
              kConnections, rounds, static_cast<long long>(length.count()));
  std::printf("%-22s %-12s | %8s %9s %6s | %8s %9s %6s |\n", "mode", "load", "p99", "req/s", "failed", "p99",
              "req/s", "failed");
  for (const char* mode : {"drain", "handoff"}) run_mode(mode, length, rounds);
  return 0;
}
