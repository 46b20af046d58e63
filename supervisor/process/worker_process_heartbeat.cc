// WorkerProcess, --hang-timeout: a worker whose event loop is stuck (a
// deadlock, an endless loop, a blocking call, SIGSTOP) keeps its pid and its
// listeners, so its exit never tells. Every quarter of the timeout a serving
// worker that said FEATURES with ANSWERS_PING gets a PING, which libbaton
// answers from the worker's own loop; when none has been answered for the
// whole timeout, the worker is hung. Only a serving (ready) worker is judged:
// starting, handing off and draining have deadlines of their own.
//
// A hung worker's stacks are kept first (stack_capture.h), then it gets
// --hang-signal (SIGTERM; SIGABRT for a core dump too) and SIGKILL after
// --kill-timeout. Its exit restarts its slot like a crash; the client
// connections taken from it first go to the replacement (worker_process_inherit.cc).
#include <spdlog/spdlog.h>

#include <csignal>
#include <ctime>

#include "duration.h"
#include "worker_process.h"

namespace baton {
namespace {

// How long eu-stack or gdb may take over a hung worker's stacks.
constexpr std::chrono::milliseconds kStackCaptureDeadline{10'000};

// "baton-hung-2.0-pid1234-20261206T030405Z.txt"
std::string stacks_file(const WorkerConfig& c, pid_t pid) {
  char when[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  std::strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", &tm);
  return c.hang_stacks + "/baton-hung-" + std::to_string(c.generation) + "." + std::to_string(c.index) + "-pid" +
         std::to_string(pid) + "-" + when + ".txt";
}

}  // namespace

void WorkerProcess::start_heartbeat() {
  if (config_.hang_timeout.count() == 0 || !stage_.heartbeat) return;
  last_alive_ = std::chrono::steady_clock::now();
  heartbeat_.start(config_.hang_timeout / 4, [this] { beat(); });
}

void WorkerProcess::beat() {
  const auto now = std::chrono::steady_clock::now();
  if (stage_.state == State::kExited || !rejected_.empty()) return;
  if (stage_.state != State::kReady) {
    last_alive_ = now;  // not judged now: the clock starts again when it serves again
  } else if (now - last_alive_ > config_.hang_timeout) {
    return declare_hung(now - last_alive_);
  } else if (Status st = carry_out(worker_protocol::Command::kPing, {.ping = ++pings_sent_}); !st) {
    // A full channel is a worker that stopped reading it: the judgement above will come.
    spdlog::debug("{}: PING not sent: {}", name_, st.message());
  }
  heartbeat_.start(config_.hang_timeout / 4, [this] { beat(); });
}

// Like reject(), but the end waits for the evidence: nothing it says counts any more.
void WorkerProcess::declare_hung(std::chrono::steady_clock::duration silent) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(silent);
  // In ms always: "for 1000ms" says it was measured, where "for 1s" reads like the setting.
  rejected_ = "hung: its event loop has not answered a heartbeat for " + std::to_string(ms.count()) +
              "ms (--hang-timeout " +
              format_duration(config_.hang_timeout) + ")";
  uv_poll_stop(poll_.get());
  deadline_.stop();
  spdlog::error("{} {}; keeping its threads' stacks before ending it", name_, rejected_);
  take_clients();
  const std::string header = "baton: " + name_ + " " + rejected_ + "\n\n";
  auto capture = StackCapture::start(loop_, pid_, stacks_file(config_, pid_), header, kStackCaptureDeadline,
                                     [this](const std::string& outcome) { end_hung(outcome); });
  if (!capture) return end_hung("no stacks kept: " + capture.status().message());
  capture_ = std::move(capture.value());
}

void WorkerProcess::end_hung(const std::string& evidence) {
  hang_ = evidence;
  spdlog::error("{}: {}; sending SIG{}, SIGKILL in {}", name_, evidence, sigabbrev_np(config_.hang_signal),
                format_duration(config_.kill_timeout));
  send_signal(config_.hang_signal);
  escalate_to_kill();
}

}  // namespace baton
