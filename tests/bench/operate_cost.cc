// operate_cost: what operating baton costs, and whether it waits on the work.
//
//   build/bin/operate_cost            256 MiB of state, 5 rounds
//   build/bin/operate_cost --quick    16 MiB, 2 rounds (what CI runs)
//
// baton --mode handoff supervises kvstore, both pinned to CPU 0; the client
// runs on CPU 1. Each round interleaves:
//   idle      `status` requests on the control socket while nothing happens
//   handoff   the same while an upgrade hands the whole store over
// and reports the round trip (median, p99) of each, plus the `baton status`
// command end to end (process start included). Then the metrics endpoint:
// GET /metrics latency and baton's CPU time per scrape (from /proc/PID/stat).
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "control_client.h"
#include "support/baton_process.h"
#include "support/bench_stats.h"
#include "support/command.h"
#include "support/http_client.h"

using namespace std::chrono;
using testing_support::BatonProcess;
using testing_support::percentile;
using testing_support::pin_to_cpu;

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "operate_cost: %s\n", what.c_str());
  std::exit(1);
}

// One `status` round trip on a fresh connection, in microseconds; the reply's state.
double status_us(const std::string& control, std::string* state = nullptr) {
  const auto t0 = steady_clock::now();
  auto client = baton::ControlClient::connect(control);
  if (!client) die(client.status().message());
  auto reply = client->ask("status", seconds(10));
  if (!reply) die(reply.status().message());
  if (state) *state = (*reply)["status"]["state"];
  return duration<double, std::micro>(steady_clock::now() - t0).count();
}

void fill(std::uint16_t port, std::size_t mib) {
  auto conn = testing_support::connect_local(port, 60'000);
  if (!conn) die(conn.status().message());
  const std::string value(1 << 20, 'v');
  for (std::size_t i = 0; i < mib; ++i) {
    auto r = testing_support::exchange(conn->get(), "PUT", "/kv/blob" + std::to_string(i), value);
    if (!r || r->status != 200) die("filling the store failed");
  }
}

struct Rounds {
  std::vector<double> idle, handoff, command_idle;
  std::vector<std::size_t> samples_during;  // status requests answered during each handoff
};

void one_round(const std::string& control, Rounds& out) {
  for (int i = 0; i < 500; ++i) out.idle.push_back(status_us(control));
  for (int i = 0; i < 5; ++i) {
    const auto t0 = steady_clock::now();
    auto r = testing_support::run_baton({"status", "--control", control});
    if (r.exit_code != 0) die("baton status: " + r.describe());
    out.command_idle.push_back(duration<double, std::micro>(steady_clock::now() - t0).count());
  }
  auto client = baton::ControlClient::connect(control);
  if (!client || !client->ask("upgrade", seconds(10))) die("upgrade request failed");
  std::string state = "upgrading";
  std::size_t n = 0;
  while (state == "upgrading") {
    out.handoff.push_back(status_us(control, &state));
    ++n;
  }
  out.samples_during.push_back(n);
}

long cpu_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

void metrics_cost(const BatonProcess& baton, std::uint16_t port, int scrapes) {
  std::vector<double> latency;
  std::size_t bytes = 0;
  const long ticks0 = cpu_ticks(baton.pid());
  for (int i = 0; i < scrapes; ++i) {
    const auto t0 = steady_clock::now();
    auto r = testing_support::http_request(port, "GET", "/metrics");
    if (!r || r->status != 200) die("scrape failed");
    latency.push_back(duration<double, std::micro>(steady_clock::now() - t0).count());
    bytes = r->body.size();
  }
  const double cpu_us = static_cast<double>(cpu_ticks(baton.pid()) - ticks0) * 1e6 /
                        static_cast<double>(::sysconf(_SC_CLK_TCK)) / scrapes;
  std::printf("metrics   %d scrapes of %zu bytes: GET /metrics median %.0f us, p99 %.0f us; baton CPU %.0f us/scrape\n",
              scrapes, bytes, percentile(latency, 0.5), percentile(latency, 0.99), cpu_us);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  const std::size_t mib = quick ? 16 : 256;
  const int rounds = quick ? 2 : 5;
  BatonProcess baton({"--listen", "http=tcp://127.0.0.1:0", "--mode", "handoff", "--metrics", "tcp://127.0.0.1:0",
                      "--", KVSTORE_BIN},
                     std::nullopt, BatonProcess::Output::kCaptured, {"taskset", "-c", "0"});
  pin_to_cpu(1);
  if (!baton.wait_for("generation 1 serving")) die("baton did not start:\n" + baton.log());
  const auto metrics = baton.wait_for("metrics at http://127.0.0.1:([0-9]+)/metrics");
  if (!metrics) die("no metrics listener");
  fill(baton.port("http"), mib);
  Rounds r;
  for (int i = 0; i < rounds; ++i) one_round(baton.control_path(), r);
  std::printf("operate_cost: %zu MiB of state, %d rounds, baton on CPU 0, client on CPU 1\n", mib, rounds);
  std::printf("status    idle: median %.0f us, p99 %.0f us (%zu requests)\n", percentile(r.idle, 0.5),
              percentile(r.idle, 0.99), r.idle.size());
  std::printf("status    during a handoff: median %.0f us, p99 %.0f us (%zu requests; per handoff:",
              percentile(r.handoff, 0.5), percentile(r.handoff, 0.99), r.handoff.size());
  for (auto n : r.samples_during) std::printf(" %zu", n);
  std::printf("); ratio of medians %.2f\n", percentile(r.handoff, 0.5) / percentile(r.idle, 0.5));
  std::printf("command   `baton status` end to end, idle: median %.1f ms\n", percentile(r.command_idle, 0.5) / 1000);
  metrics_cost(baton, static_cast<std::uint16_t>(std::stoi(metrics->groups[1])), quick ? 200 : 2000);
  return 0;
}
