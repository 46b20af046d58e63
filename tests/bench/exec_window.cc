// exec_window: how long after exec a SIGHUP still kills baton, i.e. the time
// from exec to the first thing main() does (block the signals it handles).
// Before that, nothing in the process can catch the signal: it is the window
// in which `kill -HUP` right after a start ends baton instead of upgrading it.
//
//   build/bin/exec_window          9 estimates per subject, on a 25 us grid
//   build/bin/exec_window --quick  3, on a 100 us grid (what CI runs)
//   build/bin/exec_window [--quick] OTHER_BATON...  compare other builds too
//
// One trial: a delay d between posix_spawn's return (glibc's vfork-style
// spawn returns once the child has exec'd) and kill(SIGHUP); killed by
// SIGHUP means the window was longer than d. Each trial runs `SUBJECT --version`. The child runs on CPU 1, this process spins
// on CPU 0. Subjects are interleaved; the floor is `exec_floor`, a static
// program whose main() blocks SIGHUP and exits.
#include <signal.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "support/bench_stats.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

// True if SIGHUP, sent `delay` after exec, killed the process.
bool killed_at(const std::string& subject, std::chrono::nanoseconds delay) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  char* argv[] = {const_cast<char*>(subject.c_str()), const_cast<char*>("--version"), nullptr};
  pid_t pid = -1;
  testing_support::pin_to_cpu(1);  // the child inherits CPU 1
  const int err = posix_spawn(&pid, subject.c_str(), &actions, nullptr, argv, environ);
  const auto exec_done = Clock::now();
  testing_support::pin_to_cpu(0);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) {
    std::fprintf(stderr, "exec_window: cannot run %s\n", subject.c_str());
    std::exit(1);
  }
  while (Clock::now() - exec_done < delay) {
  }
  ::kill(pid, SIGHUP);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGHUP;
}

// One estimate of the window: the killed share at each delay of a grid
// (every `step` from 0 to 6 ms, the delays in a shuffled order so that drift
// spreads evenly), then the first delay at which fewer than half were killed.
double estimate_us(const std::string& subject, int step_us, int tries, std::mt19937& random) {
  std::vector<int> delays;
  for (int d = 0; d <= 6'000; d += step_us)
    for (int t = 0; t < tries; ++t) delays.push_back(d);
  std::shuffle(delays.begin(), delays.end(), random);
  std::map<int, int> killed;
  for (int d : delays) killed[d] += killed_at(subject, std::chrono::microseconds(d)) ? 1 : 0;
  for (const auto& [d, n] : killed)
    if (2 * n < tries) return d;
  return 6'000;
}

}  // namespace

int main(int argc, char** argv) {
  int first = 1;
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  if (quick) ++first;
  std::vector<std::string> subjects{EXEC_FLOOR_BIN, BATON_BIN};
  for (int i = first; i < argc; ++i) subjects.emplace_back(argv[i]);
  std::vector<std::vector<double>> windows(subjects.size());
  const int rounds = quick ? 3 : 9;
  const int step_us = quick ? 100 : 25, tries = quick ? 3 : 5;
  std::mt19937 random(42);
  for (int round = 0; round < rounds; ++round)
    for (std::size_t s = 0; s < subjects.size(); ++s) {
      const std::size_t at = (s + static_cast<std::size_t>(round)) % subjects.size();  // rotate the order
      windows[at].push_back(estimate_us(subjects[at], step_us, tries, random));
    }
  std::printf("exec -> main (a SIGHUP kills before it), %d estimates each, median [p10, p90]:\n", rounds);
  for (std::size_t s = 0; s < subjects.size(); ++s)
    std::printf("  %-48s %7.0f us [%.0f, %.0f]\n", subjects[s].c_str(), testing_support::median(windows[s]),
                testing_support::percentile(windows[s], 0.1), testing_support::percentile(windows[s], 0.9));
  return 0;
}
