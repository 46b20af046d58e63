#include "supervisor.h"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <csignal>

#include "baton/channel.h"
#include "duration.h"

namespace baton {
Supervisor::Supervisor(uv_loop_t* loop, Options options, WorkerLauncher& launcher)
    : loop_(loop), options_(std::move(options)), launcher_(launcher) {}

// A worker still alive here (only on a failed start) is killed and reaped by
// its own destructor.
Supervisor::~Supervisor() = default;

Status Supervisor::start() {
  for (int signum : {SIGHUP, SIGTERM, SIGINT, SIGQUIT}) {
    auto h = std::make_unique<UvHandle<uv_signal_t>>();
    uv_signal_init(loop_, h->get());
    h->mark_initialized();
    h->get()->data = this;
    uv_signal_start(h->get(), [](uv_signal_t* s, int n) {
      if (auto* self = static_cast<Supervisor*>(s->data)) self->handle_signal(n);
    }, signum);
    signals_.push_back(std::move(h));
  }
  reaper_ = std::make_unique<OrphanReaper>(loop_, [this](pid_t pid) { return is_worker(pid); });
  state_ = State::kStarting;
  if (Status st = spawn_generation(next_generation_++, Generation::Role::kStarting); !st) {
    signals_.clear();
    reaper_.reset();
    return st;
  }
  return Status::ok();
}

bool Supervisor::is_worker(pid_t pid) const {
  for (const auto& [n, gen] : generations_)
    for (const auto& slot : gen.slots)
      if (slot.worker && slot.worker->pid() == pid) return true;
  return false;
}

// ---- events ---------------------------------------------------------------

void Supervisor::handle_signal(int signum) {
  switch (signum) {
    case SIGHUP:
      if (state_ == State::kStopping) {
        spdlog::info("SIGHUP ignored: stopping");
      } else if (state_ == State::kServing) {
        begin_upgrade();
      } else if (!upgrade_pending_) {
        upgrade_pending_ = true;
        spdlog::info("SIGHUP during {}: one more upgrade will follow it",
                     state_ == State::kStarting ? "start-up" : "an upgrade");
      }
      return;
    case SIGTERM:
    case SIGINT:
      if (state_ == State::kStopping) return stop_fast();
      return begin_stop(exit_code::kOk, std::string("SIG") + sigabbrev_np(signum));
    case SIGQUIT:
      if (state_ != State::kStopping) begin_stop(exit_code::kOk, "SIGQUIT");
      return stop_fast();
  }
}

void Supervisor::on_worker_ready(std::uint64_t g, std::uint32_t index) {
  Generation& gen = generations_.at(g);
  WorkerHandle& w = *gen.slots[index].worker;
  spdlog::info("{} ready", w.name());
  if (!gen.all_ready()) return;
  if (gen.role == Generation::Role::kStarting) {
    gen.role = Generation::Role::kActive;
    active_ = g;
    state_ = State::kServing;
    spdlog::info("{} serving; upgrade with: kill -HUP {}", gen_name(g), ::getpid());
    return run_pending_upgrade();
  }
  if (gen.role == Generation::Role::kCandidate) {
    if (auto it = generations_.find(active_); it != generations_.end()) retire(it->second, /*drain=*/true);
    promote(gen, "draining " + gen_name(active_));
    return collect_finished();
  }
}

void Supervisor::on_worker_exit(std::uint64_t g, std::uint32_t index, const WorkerExit& info) {
  Generation& gen = generations_.at(g);
  Generation::Slot& slot = gen.slots[index];
  const std::string who = slot.worker->name();
  const auto started = slot.worker->started_at();
  const bool drained = slot.worker->state() == WorkerState::kDraining;
  slot.worker.reset();  // reaped; its handles close

  switch (gen.role) {
    case Generation::Role::kStarting:
      spdlog::error("{} {} before {} was ready", who, info.describe(), gen_name(g));
      begin_stop(exit_code::kWorkerFailed, gen_name(g) + " failed to start");
      break;
    case Generation::Role::kCandidate:
      fail_upgrade(gen, who + " " + info.describe());
      break;
    case Generation::Role::kActive:
      if (handoff_deadline_) {
        // It held state that was on its way: that slot starts over, empty.
        if (auto it = generations_.find(candidate_); it != generations_.end())
          fail_upgrade(it->second, who + " " + info.describe() + " during the handoff; its state is lost");
      }
      if (state_ == State::kStopping || drained) {
        spdlog::info("{} {}", who, info.describe());
      } else {
        auto delay = slot.backoff.on_crash(started, std::chrono::steady_clock::now());
        spdlog::warn("{} {}; restarting it in {} (crash {} in a row)", who, info.describe(),
                     format_duration(delay), slot.backoff.consecutive_crashes());
        slot.restart = std::make_unique<Timer>(loop_);
        slot.restart->start(delay, [this, g, index] {
          Generation& gen = generations_.at(g);
          if (Status st = spawn_slot(gen, index); !st) schedule_restart(gen, index, st.message());
        });
      }
      break;
    case Generation::Role::kRetiring:
      spdlog::info("{} {}", who, info.describe());
      break;
  }
  collect_finished();
}

// ---- actions --------------------------------------------------------------

Status Supervisor::spawn_slot(Generation& gen, std::uint32_t index) {
  const std::uint64_t g = gen.number;
  WorkerConfig config{options_.command, g, index, options_.ready_timeout, options_.kill_timeout, gen.standby};
  WorkerCallbacks callbacks;
  callbacks.on_ready = [this, g, index](WorkerHandle&) { on_worker_ready(g, index); };
  callbacks.on_exit = [this, g, index](WorkerHandle&, const WorkerExit& info) { on_worker_exit(g, index, info); };
  callbacks.on_standby = [this, g, index](WorkerHandle&) { on_worker_standby(g, index); };
  callbacks.on_sent = [this, g, index](WorkerHandle&, const HandoffTotals& t) { on_worker_sent(g, index, t); };
  callbacks.on_restored = [this, g, index](WorkerHandle&, const HandoffTotals& t) { on_worker_restored(g, index, t); };
  callbacks.on_refused = [this, g, index](WorkerHandle&, const std::string& why) { on_worker_refused(g, index, why); };
  auto w = launcher_.launch(std::move(config), std::move(callbacks));
  if (!w) return w.status();
  spdlog::info("{} started: {}", (*w)->name(), options_.command[0]);
  gen.slots[index].worker = std::move(w.value());
  return Status::ok();
}

void Supervisor::schedule_restart(Generation& gen, std::uint32_t index, const std::string& why) {
  auto& slot = gen.slots[index];
  auto delay = slot.backoff.on_crash(std::chrono::steady_clock::now(), std::chrono::steady_clock::now());
  spdlog::error("restart of worker {}.{} failed: {}; next try in {}", gen.number, index, why, format_duration(delay));
  const std::uint64_t g = gen.number;
  slot.restart = std::make_unique<Timer>(loop_);
  slot.restart->start(delay, [this, g, index] {
    Generation& gen = generations_.at(g);
    if (Status st = spawn_slot(gen, index); !st) schedule_restart(gen, index, st.message());
  });
}

Status Supervisor::spawn_generation(std::uint64_t number, Generation::Role role) {
  Generation& gen = generations_[number];
  gen.number = number;
  gen.role = role;
  // Only an upgrade with a serving generation behind it has state to hand off.
  gen.standby = options_.mode == UpgradeMode::kHandoff && role == Generation::Role::kCandidate && active_ != 0;
  gen.slots.resize(options_.workers);
  for (std::uint32_t i = 0; i < options_.workers; ++i) {
    if (Status st = spawn_slot(gen, i); !st) {
      // Take back what did start; it never served anything.
      gen.role = Generation::Role::kRetiring;
      gen.for_each_worker([](WorkerHandle& w) { w.reject("its generation could not start"); });
      collect_finished();
      return st;
    }
  }
  return Status::ok();
}

void Supervisor::begin_upgrade() {
  const std::uint64_t g = next_generation_++;
  spdlog::info("upgrade to {} started: {}", gen_name(g), options_.command[0]);
  if (Status st = spawn_generation(g, Generation::Role::kCandidate); !st) {
    spdlog::error("upgrade to {} failed: {}; {} keeps serving", gen_name(g), st.message(), gen_name(active_));
    return;
  }
  candidate_ = g;
  state_ = State::kUpgrading;
}

// The candidate becomes the serving generation.
void Supervisor::promote(Generation& candidate, const std::string& how) {
  spdlog::info("upgrade to {} complete; {}", gen_name(candidate.number), how);
  candidate.role = Generation::Role::kActive;
  active_ = candidate.number;
  candidate_ = 0;
  state_ = State::kServing;
  run_pending_upgrade();
}

void Supervisor::fail_upgrade(Generation& candidate, const std::string& why) {
  if (candidate.role != Generation::Role::kCandidate) return;  // already failed
  spdlog::error("upgrade to {} failed: {}; {} keeps serving", gen_name(candidate.number), why, gen_name(active_));
  candidate.role = Generation::Role::kRetiring;
  candidate.for_each_worker([&](WorkerHandle& w) { w.reject(gen_name(candidate.number) + " abandoned"); });
  if (handoff_deadline_) {
    // The old workers still hold everything: they serve on as if nothing happened.
    if (auto it = generations_.find(active_); it != generations_.end())
      it->second.for_each_worker([](WorkerHandle& w) { w.resume(); });
    end_handoff();
  }
  candidate_ = 0;
  state_ = State::kServing;
  run_pending_upgrade();
}

void Supervisor::retire(Generation& gen, bool drain) {
  gen.role = Generation::Role::kRetiring;
  gen.cancel_restarts();
  gen.for_each_worker([&](WorkerHandle& w) {
    if (drain) w.drain(options_.drain_timeout);
    else w.terminate();
  });
}

void Supervisor::begin_stop(int code, const std::string& why) {
  if (state_ == State::kStopping) return;
  state_ = State::kStopping;
  exit_code_ = code;
  upgrade_pending_ = false;
  end_handoff();  // old workers are resumed by drain() below
  spdlog::info("stopping ({}): draining every worker; send SIGTERM again or SIGQUIT to stop faster", why);
  std::vector<std::uint64_t> numbers;
  for (auto& [n, gen] : generations_) numbers.push_back(n);
  for (auto n : numbers) {
    Generation& gen = generations_.at(n);
    if (gen.role == Generation::Role::kRetiring) continue;
    // Only a serving generation has requests worth draining.
    retire(gen, /*drain=*/gen.role == Generation::Role::kActive);
  }
  active_ = 0;
  collect_finished();
}

void Supervisor::stop_fast() {
  spdlog::info("stopping fast: SIGTERM to every worker");
  for (auto& [n, gen] : generations_) {
    gen.cancel_restarts();
    gen.for_each_worker([](WorkerHandle& w) { w.terminate(); });
  }
  collect_finished();
}

void Supervisor::run_pending_upgrade() {
  if (upgrade_pending_ && state_ == State::kServing) {
    upgrade_pending_ = false;
    begin_upgrade();
  }
}

void Supervisor::collect_finished() {
  for (auto it = generations_.begin(); it != generations_.end();) {
    Generation& gen = it->second;
    if (gen.role == Generation::Role::kRetiring && gen.finished()) {
      spdlog::info("{} retired", gen_name(gen.number));
      it = generations_.erase(it);
    } else {
      ++it;
    }
  }
  if (state_ != State::kStopping || !generations_.empty() || loop_stopped_) return;
  loop_stopped_ = true;
  spdlog::info("stopped: every worker has exited");
  signals_.clear();
  reaper_->reap();  // whatever orphans exited last
  reaper_.reset();
  uv_stop(loop_);
}

}  // namespace baton
