// rolling_memory: how much more memory an upgrade takes than steady state,
// all at once against --rolling 1, for -w 4 kvstore workers in handoff mode
// holding 64 MiB of state each.
//
//   build/bin/rolling_memory            3 rounds
//   build/bin/rolling_memory --quick    1 round of 16 MiB per worker (what CI runs)
//
// Each run starts baton in a memory cgroup of its own (no limit: nothing is
// refused), fills every worker, and reads the cgroup's memory before the
// upgrade (steady) and its peak during `baton upgrade --wait`. Rounds
// alternate the two ways; it prints the medians of peak / steady.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "cgroup_memory.h"
#include "support/baton_process.h"
#include "support/bench_stats.h"
#include "support/command.h"
#include "support/kv_fill.h"
#include "support/memory_cgroup.h"

using testing_support::BatonProcess;
using testing_support::MemoryCgroup;

namespace {

constexpr int kWorkers = 4;
constexpr double kMiB = 1024.0 * 1024.0;

struct Run {
  double steady_mib = 0, peak_mib = 0;
  double ratio() const { return peak_mib / steady_mib; }
};

// Thrown from inside a measurement, so that its baton and cgroup are ended on the way out.
[[noreturn]] void die(const std::string& what) { throw std::runtime_error(what); }

std::optional<MemoryCgroup> make_cgroup() {
  auto own = baton::own_memory_cgroup();
  if (!own) return std::nullopt;
  std::string why;
  auto cgroup = MemoryCgroup::create(own->dir, own->version, why);
  if (!cgroup) std::printf("no memory cgroup can be made here: %s\n", why.c_str());
  return cgroup;
}

Run measure(const std::vector<std::string>& flags, std::uint64_t mib_each) {
  auto cgroup = make_cgroup();
  if (!cgroup) std::exit(0);  // said why; nothing to measure on this machine
  std::vector<std::string> args{"-w", std::to_string(kWorkers), "--mode", "handoff", "--listen",
                                "http=tcp://127.0.0.1:0"};
  args.insert(args.end(), flags.begin(), flags.end());
  args.insert(args.end(), {"--", KVSTORE_BIN});
  BatonProcess baton(args, std::nullopt, BatonProcess::Output::kCaptured, cgroup->wrapper());
  std::vector<pid_t> pids;
  for (int i = 0; i < kWorkers; ++i) {
    auto m = baton.wait_for("worker 1\\." + std::to_string(i) + " \\(pid ([0-9]+)\\) ready");
    if (!m) die("worker 1." + std::to_string(i) + " never ready:\n" + baton.log());
    pids.push_back(static_cast<pid_t>(std::stol(m->groups[1])));
  }
  if (!baton.wait_for("generation 1 serving")) die("baton never served:\n" + baton.log());
  if (auto error = testing_support::fill_each_worker(baton.port(), pids, mib_each); !error.empty()) die(error);
  Run r{cgroup->in_use() / kMiB, 0};
  cgroup->reset_peak();
  auto done = testing_support::run_baton({"upgrade", "--wait", "--control", baton.control_path()},
                                         std::chrono::seconds(120));
  if (done.exit_code != 0) die("upgrade failed: " + done.describe());
  r.peak_mib = cgroup->peak() / kMiB;
  baton.signal(SIGTERM);
  baton.wait_exit();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  if (argc > 2 || (argc == 2 && !quick)) {
    std::fprintf(stderr, "usage: rolling_memory [--quick]   (--quick: one round, 16 MiB per worker, for CI)\n");
    return 2;
  }
  const int rounds = quick ? 1 : 3;
  const std::uint64_t mib = quick ? 16 : 64;
  std::printf("rolling_memory: -w %d, handoff mode, %llu MiB of state per worker; cgroup peak during an upgrade / "
              "memory before it, %d round(s)\n",
              kWorkers, static_cast<unsigned long long>(mib), rounds);
  const std::vector<std::pair<const char*, std::vector<std::string>>> ways{{"all at once", {}},
                                                                           {"--rolling 1", {"--rolling", "1"}}};
  std::vector<double> ratio[2], steady[2], peak[2];
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t w = 0; w < ways.size(); ++w) {
      Run r;
      try {
        r = measure(ways[w].second, mib);
      } catch (const std::runtime_error& e) {
        std::fprintf(stderr, "rolling_memory: %s\n", e.what());
        return 1;
      }
      ratio[w].push_back(r.ratio());
      steady[w].push_back(r.steady_mib);
      peak[w].push_back(r.peak_mib);
      std::printf("  round %d, %-12s steady %7.1f MiB, peak %7.1f MiB, %.2fx\n", round + 1, ways[w].first,
                  r.steady_mib, r.peak_mib, r.ratio());
      std::fflush(stdout);
    }
  }
  for (std::size_t w = 0; w < ways.size(); ++w)
    std::printf("%-12s median: steady %7.1f MiB, peak %7.1f MiB, peak / steady %.2fx\n", ways[w].first,
                testing_support::median(steady[w]), testing_support::median(peak[w]),
                testing_support::median(ratio[w]));
  return 0;
}
