// WorkerProcess, --hang-timeout: a worker whose event loop is stuck (a
// deadlock, an endless loop, a blocking call, SIGSTOP) keeps its pid and its
// listeners, so its exit never tells. Every quarter of the timeout a serving
// worker that said FEATURES with ANSWERS_PING gets a PING, which libbaton
// answers from the worker's own loop; when none has been answered for the
// whole timeout, the worker is hung. Only a serving (ready) worker is judged:
// starting, handing off and draining have deadlines of their own.
#include <spdlog/spdlog.h>

#include "duration.h"
#include "worker_process.h"

namespace baton {

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

void WorkerProcess::declare_hung(std::chrono::steady_clock::duration silent) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(silent);
  reject("hung: its event loop has not answered a heartbeat for " + format_duration(ms) + " (--hang-timeout " +
         format_duration(config_.hang_timeout) + ")");
}

}  // namespace baton
