#include "supervisor.h"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <csignal>

#include "duration.h"

namespace baton {
Supervisor::Supervisor(uv_loop_t* loop, Options options, WorkerLauncher& launcher, SupervisorObserver* observer)
    : loop_(loop), options_(std::move(options)), launcher_(launcher), observer_(observer) {}

// A worker still alive here (only on a failed start) is killed and reaped by
// its own destructor.
Supervisor::~Supervisor() = default;

Status Supervisor::start() {
  if (Status st = install_handlers(); !st) return st;
  phase_.emplace<phase::Starting>();
  if (Status st = spawn_generation(next_generation_++, Generation::Role::kStarting); !st) {
    signals_.clear();
    return st;
  }
  return Status::ok();
}

Status Supervisor::install_handlers() {
  std::vector<int> handled{SIGHUP, SIGTERM, SIGINT, SIGQUIT};
  handled.insert(handled.end(), options_.forward_signals.begin(), options_.forward_signals.end());
  arm_recycle_tick();
  for (int signum : handled) {
    auto h = std::make_unique<UvHandle<uv_signal_t>>();
    if (Status st = h->init(loop_, uv_signal_init, this); !st) return st.with_context("signal handler");
    uv_signal_start(h->get(), [](uv_signal_t* s, int n) {
      if (auto* self = static_cast<Supervisor*>(s->data)) self->handle_signal(n);
    }, signum);
    signals_.push_back(std::move(h));
  }
  return Status::ok();
}

bool Supervisor::is_worker(pid_t pid) const {
  for (const auto& [n, gen] : generations_) {
    for (const auto& slot : gen.slots)
      if (slot.worker && slot.worker->owns(pid)) return true;
    for (const auto& w : gen.leaving)
      if (w->owns(pid)) return true;
  }
  const auto* serving = std::get_if<phase::Serving>(&phase_);
  return serving && serving->recycle && serving->recycle->successor && serving->recycle->successor->owns(pid);
}

Generation* Supervisor::find(std::uint64_t number) {
  auto it = generations_.find(number);
  return it == generations_.end() ? nullptr : &it->second;
}

static_assert(std::is_same_v<std::variant_alternative_t<static_cast<int>(Supervisor::State::kUpgrading), phase::Phase>,
                             phase::Upgrading>,
              "Supervisor::State names phase::Phase's alternatives in order");

std::uint64_t Supervisor::serving_generation() const {
  if (const auto* s = std::get_if<phase::Serving>(&phase_)) return s->generation;
  if (const auto* u = std::get_if<phase::Upgrading>(&phase_)) return u->serving;
  return 0;
}

phase::HandoffInFlight* Supervisor::handoff() {
  auto* u = upgrading();
  return u && u->handoff ? &*u->handoff : nullptr;
}

const phase::Probation* Supervisor::probation() const {
  const auto* s = std::get_if<phase::Serving>(&phase_);
  return s && s->probation ? &*s->probation : nullptr;
}

// baton's exit code when generation 1 never served. Like tini's, it says how
// the service ended: the worker's own status, or 128+n for a signal; 4 when
// baton ended it (ready timeout, protocol error) or it exited 0 too early.
int first_generation_exit_code(const WorkerExit& e) {
  if (!e.rejected.empty()) return exit_code::kWorkerFailed;
  if (e.signal != 0) return 128 + e.signal;
  if (e.status > 0 && e.status < 256) return static_cast<int>(e.status);
  return exit_code::kWorkerFailed;
}

// ---- events ---------------------------------------------------------------

void Supervisor::dispatch(const std::function<void()>& handler) {
  ++dispatch_depth_;
  handler();
  if (--dispatch_depth_ == 0) collect_finished();
}

void Supervisor::handle_signal(int signum) { dispatch([&] { signal_received(signum); }); }
void Supervisor::on_ready(WorkerHandle& w) { dispatch([&] { worker_ready(w); }); }
void Supervisor::on_exit(WorkerHandle& w, const WorkerExit& info) { dispatch([&] { worker_exited(w, info); }); }
void Supervisor::on_standby(WorkerHandle& w) { dispatch([&] { worker_standing_by(w); }); }
void Supervisor::on_sent(WorkerHandle& w, const HandoffTotals& t) { dispatch([&] { worker_sent(w, t); }); }
void Supervisor::on_restored(WorkerHandle& w, const HandoffTotals& t) { dispatch([&] { worker_restored(w, t); }); }
void Supervisor::on_refused(WorkerHandle& w, const std::string& why) { dispatch([&] { worker_refused(w, why); }); }
void Supervisor::on_unhealthy(WorkerHandle& w, const std::string& reason) {
  dispatch([&] { worker_unhealthy(w, reason); });
}
void Supervisor::on_precopied(WorkerHandle& w, const Precopied& what) {
  dispatch([&] { worker_precopied(w, what); });
}

void Supervisor::signal_received(int signum) {
  switch (signum) {
    case SIGHUP: upgrade_requested("SIGHUP"); return;
    case SIGTERM:
    case SIGINT: return stop_requested(StopPace::kDrain, std::string("SIG") + sigabbrev_np(signum));
    case SIGQUIT: return stop_requested(StopPace::kFast, "SIGQUIT");
    default: return forward_signal(signum);
  }
}

// A signal for the application (log reopening, a debug dump): the serving
// workers get it; starting, candidate and retiring ones do not.
void Supervisor::forward_signal(int signum) {
  Generation* serving = find(serving_generation());
  if (serving == nullptr) return spdlog::info("SIG{} not forwarded: no generation serves", sigabbrev_np(signum));
  std::size_t n = 0;
  serving->for_each_worker([&](WorkerHandle& w) {
    w.forward(signum);
    ++n;
  });
  // A rolling upgrade's new workers serve beside the old ones.
  if (Generation* candidate = rolling() ? find(upgrading()->candidate) : nullptr)
    candidate->for_each_worker([&](WorkerHandle& w) {
      if (w.state() != WorkerState::kReady) return;
      w.forward(signum);
      ++n;
    });
  spdlog::info("SIG{} forwarded to {} ({} workers)", sigabbrev_np(signum), gen_name(serving->number), n);
}

Supervisor::UpgradeRequest Supervisor::request_upgrade(const std::string& from) {
  UpgradeRequest outcome = UpgradeRequest::kRefused;
  dispatch([&] { outcome = upgrade_requested(from); });
  return outcome;
}

void Supervisor::request_stop(bool fast, const std::string& from) {
  dispatch([&] { stop_requested(fast ? StopPace::kFast : StopPace::kDrain, from); });
}

Supervisor::UpgradeRequest Supervisor::upgrade_requested(const std::string& from) {
  if (state() == State::kStopping) {
    spdlog::info("upgrade ({}) ignored: stopping", from);
    return UpgradeRequest::kRefused;
  }
  if (state() == State::kServing && !at_generation_cap() && !recycle()) {
    begin_upgrade();
    return UpgradeRequest::kStarted;
  }
  if (!upgrade_pending_) {
    upgrade_pending_ = true;
    spdlog::info("upgrade ({}) queued: {}", from, pending_reason());
  }
  return UpgradeRequest::kQueued;
}

// A second stop request while stopping hurries the first along.
void Supervisor::stop_requested(StopPace pace, const std::string& from) {
  if (state() == State::kStopping) return stop_fast();
  begin_stop(exit_code::kOk, from, pace);
}

void Supervisor::worker_ready(WorkerHandle& w) {
  if (recycle_ready(w) || rolling_ready(w)) return;
  Generation& gen = generations_.at(w.generation());
  spdlog::info("{} ready", w.name());
  if (!gen.all_ready()) return;
  if (gen.role == Generation::Role::kStarting) {
    gen.role = Generation::Role::kActive;
    gen.served = true;
    phase_.emplace<phase::Serving>(gen.number);
    spdlog::info("{} serving; upgrade with: kill -HUP {}", gen_name(gen.number), ::getpid());
    if (observer_) observer_->serving(gen.number);
    return run_pending_upgrade();
  }
  if (gen.role == Generation::Role::kCandidate) {
    candidate_started(gen);
    const std::uint64_t old = serving_generation();
    if (Generation* serving = find(old)) drain_generation(*serving);
    promote(gen, "draining " + gen_name(old));
  }
}

void Supervisor::worker_exited(WorkerHandle& w, const WorkerExit& info) {
  if (leaving_exited(w, info) || recycle_exited(w, info) || rolling_exited(w, info)) return;
  Generation& gen = generations_.at(w.generation());
  const std::uint32_t index = w.index();
  const std::string who = w.name();
  const auto started = w.started_at();
  const bool drained = w.state() == WorkerState::kDraining;
  gen.slots[index].worker.reset();  // reaped; its handles close. `w` is gone.
  if (!info.hang.empty()) {
    ++hangs_;
    last_hang_ = HangRecord{who, info.rejected, info.hang, info.kept ? info.kept->size() : 0};
    if (observer_) observer_->worker_hung(*last_hang_);
  }

  switch (gen.role) {
    case Generation::Role::kStarting:
      spdlog::error("{} {} before {} was ready", who, info.describe(), gen_name(gen.number));
      return begin_stop(first_generation_exit_code(info), gen_name(gen.number) + " failed to start",
                        StopPace::kDrain);
    case Generation::Role::kCandidate:
      return fail_upgrade(gen, who + " " + info.describe());
    case Generation::Role::kActive:
      if (state() == State::kStopping || drained) return spdlog::info("{} {}", who, info.describe());
      if (on_probation(gen)) roll_back(gen, who + " " + info.describe());
      // Unless the rollback retired it, the slot restarts meanwhile.
      if (gen.role == Generation::Role::kActive) active_worker_exited(gen, index, who, started, info);
      return;
    case Generation::Role::kRetiring:
    case Generation::Role::kParked:
      return spdlog::info("{} {}", who, info.describe());
  }
}

// A serving worker crashed: restart its slot, backing off.
void Supervisor::active_worker_exited(Generation& gen, std::uint32_t index, const std::string& who,
                                      std::chrono::steady_clock::time_point started, const WorkerExit& info) {
  if (handoff()) {
    // It held state that was on its way: that slot starts over, empty.
    if (Generation* candidate = find(upgrading()->candidate))
      fail_upgrade(*candidate, who + " " + info.describe() + " during the handoff; its state is lost");
  }
  auto& backoff = gen.slots[index].backoff;
  auto delay = backoff.on_crash(started, std::chrono::steady_clock::now());
  spdlog::warn("{} {}; restarting it in {} (crash {} in a row)", who, info.describe(), format_duration(delay),
               backoff.consecutive_crashes());
  ++gen.slots[index].restarts;
  ++worker_restarts_;
  count_replacements(info.hang.empty() ? ReplacementCause::kCrash : ReplacementCause::kHang, 1);
  if (info.kept && !info.kept->empty()) {
    spdlog::info("{}: its replacement gets the {} client connections taken from it", who, info.kept->size());
    gen.slots[index].kept = info.kept;
  }
  if (observer_) observer_->worker_restarting(gen.number, index);
  restart_later(gen, index, delay);
}

// ---- actions --------------------------------------------------------------

WorkerConfig Supervisor::slot_config(const Generation& gen, std::uint32_t index) const {
  // Only an upgrade's candidate waits for state: a restart has none coming.
  const bool standby = gen.standby && gen.role == Generation::Role::kCandidate;
  return WorkerConfig{options_.command, gen.executable ? gen.executable->exec_path() : "", gen.number, index,
                      options_.ready_timeout, options_.kill_timeout, standby,
                      launcher_.may_start_low() ? options_.start_nice : 0, options_.hang_timeout,
                      options_.hang_stacks, options_.hang_signal, gen.slots[index].kept};
}

Status Supervisor::spawn_slot(Generation& gen, std::uint32_t index, std::optional<bool> standby) {
  WorkerConfig config = slot_config(gen, index);
  if (standby) config.standby = *standby;
  auto w = launcher_.launch(std::move(config), *this);
  if (!w) return w.status();
  gen.slots[index].kept.reset();  // the new worker has them now
  gen.slots[index].recycle_at = std::chrono::steady_clock::time_point::max();  // due from its start
  spdlog::info("{} started: {}", (*w)->name(), options_.command[0]);
  gen.slots[index].worker = std::move(w.value());
  return Status::ok();
}

void Supervisor::restart_later(Generation& gen, std::uint32_t index, std::chrono::milliseconds delay) {
  auto& slot = gen.slots[index];
  slot.restart = std::make_unique<Timer>(loop_);
  // The timer belongs to the slot, so `gen` outlives it.
  slot.restart->start(delay, [this, &gen, index] {
    dispatch([&] {
      Status st = spawn_slot(gen, index);
      if (st) return;
      auto next = gen.slots[index].backoff.on_failed_start();
      spdlog::error("restart of worker {}.{} failed: {}; next try in {}", gen.number, index, st.message(),
                    format_duration(next));
      restart_later(gen, index, next);
    });
  });
}

Status Supervisor::create_generation(std::uint64_t number, Generation::Role role,
                                     std::shared_ptr<const HeldFile> rollback_to) {
  Generation& gen = generations_[number];
  gen.number = number;
  gen.role = role;
  gen.rollback = rollback_to != nullptr;
  // Only an upgrade with a serving generation behind it has state to hand
  // off; a rollback's predecessor crashed, and its state is not to be trusted.
  gen.standby = options_.mode == UpgradeMode::kHandoff && role == Generation::Role::kCandidate &&
                serving_generation() != 0 &&
                !gen.rollback;
  gen.slots.resize(options_.workers);
  if (options_.probation.count() > 0 || recycling_enabled() || options_.rolling != 0) {
    // Held from the start, so that a rollback (or a recycle) runs this very file again.
    auto held = rollback_to ? Result<std::shared_ptr<const HeldFile>>(rollback_to)
                            : launcher_.hold(options_.command[0]);
    if (!held) {
      gen.role = Generation::Role::kRetiring;  // nothing started; collect_finished() forgets it
      return held.status();
    }
    gen.executable = std::move(held.value());
  }
  return Status::ok();
}

Status Supervisor::spawn_generation(std::uint64_t number, Generation::Role role,
                                    std::shared_ptr<const HeldFile> rollback_to) {
  if (Status st = create_generation(number, role, std::move(rollback_to)); !st) return st;
  Generation& gen = generations_.at(number);
  for (std::uint32_t i = 0; i < options_.workers; ++i) {
    if (Status st = spawn_slot(gen, i); !st) {
      // Take back what did start; it never served anything. The caller says why.
      gen.role = Generation::Role::kRetiring;
      gen.for_each_worker([](WorkerHandle& w) { w.abandon("its generation could not start"); });
      return st;
    }
  }
  return Status::ok();
}

void Supervisor::begin_upgrade(std::shared_ptr<const HeldFile> rollback_to) {
  end_probation("a newer upgrade started");
  const std::uint64_t g = next_generation_++;
  UpgradeRecord& upgrade = last_upgrade_.emplace();
  upgrade.sequence = upgrades_committed_ + upgrades_failed_ + 1;
  upgrade.candidate = g;
  if (rollback_to)
    spdlog::info("rollback to {} started: {}{}", gen_name(g), rollback_to->path(),
                 rollback_to->on_disk() ? "" : " (replaced on disk since: the file it was started from)");
  else
    spdlog::info("upgrade to {} started: {}", gen_name(g), options_.command[0]);
  if (observer_) observer_->upgrade_started(upgrade);
  unsigned batch_size = 0;  // a rollback replaces a failing generation: all at once, never refused
  if (!rollback_to) {
    auto admitted = admit_upgrade(upgrade);
    if (!admitted) return;
    batch_size = *admitted;
  }
  if (batch_size > 0) return begin_rolling(g, batch_size);
  if (Status st = spawn_generation(g, Generation::Role::kCandidate, std::move(rollback_to)); !st) {
    spdlog::error("upgrade to {} failed: {}; {}", gen_name(g), st.message(), who_serves());
    return finish_upgrade(UpgradeRecord::Result::kFailed, st.message());
  }
  spdlog::debug("upgrade to {}: its workers exec'd {:.3f} ms after the request", gen_name(g),
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - upgrade.started).count());
  phase_.emplace<phase::Upgrading>(serving_generation(), g);
}

void Supervisor::candidate_started(Generation& candidate) {
  if (!observer_ || !last_upgrade_) return;
  std::vector<pid_t> pids;
  candidate.for_each_worker([&](WorkerHandle& w) { pids.push_back(w.pid()); });
  observer_->candidate_started(*last_upgrade_, pids);
}

// The candidate becomes the serving generation.
void Supervisor::promote(Generation& candidate, const std::string& how) {
  const std::uint64_t previous = serving_generation();
  spdlog::info("{} to {} complete; {}", candidate.rollback ? "rollback" : "upgrade", gen_name(candidate.number), how);
  candidate.role = Generation::Role::kActive;
  candidate.served = true;
  phase_.emplace<phase::Serving>(candidate.number);
  if (previous != 0)
    count_replacements(candidate.rollback ? ReplacementCause::kRollback : ReplacementCause::kUpgrade,
                       candidate.slots.size());
  finish_upgrade(UpgradeRecord::Result::kCommitted, how);
  if (candidate.rollback && last_rollback_ && !last_rollback_->serving_after)
    last_rollback_->serving_after = std::chrono::steady_clock::now() - last_rollback_->crashed;
  else if (options_.probation.count() > 0 && previous != 0)
    start_probation(candidate, previous);
  run_pending_upgrade();
}

void Supervisor::fail_upgrade(Generation& candidate, const std::string& why) {
  if (candidate.role != Generation::Role::kCandidate || !upgrading()) return;  // already failed
  candidate.role = Generation::Role::kRetiring;
  const std::uint64_t serving = serving_generation();
  if (handoff()) {
    // The old workers still hold everything: they serve on as if nothing happened.
    if (Generation* old = find(serving)) old->for_each_worker([](WorkerHandle& w) { w.resume(); });
  }
  phase_.emplace<phase::Serving>(serving);  // the handoff, if any, ends here
  // One line, cause first; then the candidate's workers go without a line each.
  spdlog::error("upgrade to {} failed: {}; {}", gen_name(candidate.number), why, who_serves());
  candidate.for_each_worker([&](WorkerHandle& w) {
    // A new worker that already accepts (drain mode) finishes what it
    // accepted, like any drained worker; killing it would reset its clients.
    if (w.state() == WorkerState::kReady) w.drain(options_.drain_timeout);
    else w.abandon(gen_name(candidate.number) + " abandoned");
  });
  finish_upgrade(UpgradeRecord::Result::kFailed, why);
  run_pending_upgrade();
}

void Supervisor::finish_upgrade(UpgradeRecord::Result result, const std::string& reason) {
  UpgradeRecord& upgrade = *last_upgrade_;
  upgrade.result = result;
  upgrade.reason = reason;
  upgrade.finished = std::chrono::steady_clock::now();
  upgrade.serving = serving_generation();
  ++(upgrade.committed() ? upgrades_committed_ : upgrades_failed_);
  if (observer_) observer_->upgrade_finished(upgrade);
}

// What the log can truthfully say about the serving generation after a failed upgrade.
std::string Supervisor::who_serves() {
  Generation* active = find(serving_generation());
  if (active == nullptr) return "no generation is serving";
  std::size_t serving = 0;
  for (const auto& slot : active->slots)
    if (slot.worker && slot.worker->state() == WorkerState::kReady) ++serving;
  if (serving == active->slots.size()) return gen_name(active->number) + " keeps serving";
  return gen_name(active->number) + " serves on with " + std::to_string(serving) + " of " +
         std::to_string(active->slots.size()) + " workers (the others are restarting)";
}

void Supervisor::retire(Generation& gen, const std::function<void(WorkerHandle&)>& each_worker) {
  if (gen.role != Generation::Role::kRetiring) gen.retiring_since = std::chrono::steady_clock::now();
  gen.role = Generation::Role::kRetiring;
  gen.cancel_restarts();
  gen.for_each_worker(each_worker);
}

void Supervisor::drain_generation(Generation& gen) {
  retire(gen, [&](WorkerHandle& w) { w.drain(options_.drain_timeout); });
}

void Supervisor::terminate_generation(Generation& gen) {
  retire(gen, [](WorkerHandle& w) { w.terminate(); });
}

void Supervisor::begin_stop(int code, const std::string& why, StopPace pace) {
  if (state() == State::kStopping) return;
  abort_recycle("baton is stopping", OldWorker::kResume, Retry::kNever);
  // Old workers in the middle of a handoff serve nothing until drain() resumes them.
  const bool can_serve_on = !handoff() && std::any_of(generations_.begin(), generations_.end(), [](const auto& g) {
    return g.second.role == Generation::Role::kActive;
  });
  // An upgrade in flight ends here: its candidate is terminated below.
  if (upgrading()) finish_upgrade(UpgradeRecord::Result::kFailed, "baton is stopping (" + why + ")");
  end_probation("baton is stopping");
  // A handoff in flight ends here: its old workers are resumed by drain() below, or terminated.
  auto& stopping = phase_.emplace<phase::Stopping>(loop_);
  exit_code_ = code;
  upgrade_pending_ = false;
  if (observer_) observer_->stopping();
  if (pace == StopPace::kFast) {
    spdlog::info("stopping fast ({}): SIGTERM to every worker", why);
    return terminate_everything();
  }
  if (options_.stop_delay.count() == 0 || !can_serve_on) return drain_everything(why);
  spdlog::info("stopping ({}): not ready from now on; serving {} more so load balancers look elsewhere, then "
               "draining; send SIGTERM again or SIGQUIT to stop faster",
               why, format_duration(options_.stop_delay));
  for (auto& [n, gen] : generations_) {
    if (gen.role == Generation::Role::kActive || gen.role == Generation::Role::kRetiring) continue;
    // A candidate's READY workers serve (drain mode, a rolling upgrade's): they drain with the rest.
    if (gen.role == Generation::Role::kCandidate)
      gen.for_each_worker([](WorkerHandle& w) { if (w.state() != WorkerState::kReady) w.terminate(); });
    else terminate_generation(gen);
  }
  stopping.delay.start(options_.stop_delay, [this, why] { dispatch([&] { drain_everything(why); }); });
}

void Supervisor::drain_everything(const std::string& why) {
  spdlog::info("stopping ({}): draining every worker; send SIGTERM again or SIGQUIT to stop faster", why);
  for (auto& [n, gen] : generations_) {
    if (gen.role == Generation::Role::kRetiring) continue;
    // Only serving workers have requests worth draining: a candidate's that
    // are READY serve too (drain mode, a rolling upgrade).
    if (gen.role == Generation::Role::kActive) drain_generation(gen);
    else if (gen.role == Generation::Role::kCandidate) retire(gen, [&](WorkerHandle& w) {
      if (w.state() == WorkerState::kReady) w.drain(options_.drain_timeout);
      else w.terminate();
    });
    else terminate_generation(gen);
  }
}

void Supervisor::stop_fast() {
  spdlog::info("stopping fast: SIGTERM to every worker");
  std::get<phase::Stopping>(phase_).delay.stop();
  terminate_everything();
}

void Supervisor::terminate_everything() {
  for (auto& [n, gen] : generations_) {
    terminate_generation(gen);
    for (auto& w : gen.leaving) w->terminate();
  }
}

void Supervisor::run_pending_upgrade() {
  if (!upgrade_pending_ || state() != State::kServing || recycle()) return;
  if (at_generation_cap()) {
    if (!cap_logged_) spdlog::info("upgrade waits: {}", pending_reason());
    cap_logged_ = true;  // once per wait: retiring workers come and go
    return;
  }
  upgrade_pending_ = false;
  cap_logged_ = false;
  begin_upgrade();
}

bool Supervisor::at_generation_cap() const { return generations_.size() >= options_.max_generations; }

std::string Supervisor::pending_reason() const {
  if (state() == State::kStarting) return "it follows start-up";
  if (state() != State::kServing) return "it follows the upgrade running now";
  if (const auto& r = std::get<phase::Serving>(phase_).recycle)
    return "it follows the recycle of worker " + std::to_string(serving_generation()) + "." + std::to_string(r->index);
  return std::to_string(generations_.size()) + " generations are alive (--max-generations " +
         std::to_string(options_.max_generations) + "); it starts when " + gen_name(generations_.begin()->first) +
         " has finished draining";
}

void Supervisor::collect_finished() {
  bool retired = false;
  for (auto it = generations_.begin(); it != generations_.end();) {
    Generation& gen = it->second;
    const bool leaving = gen.role == Generation::Role::kRetiring || gen.role == Generation::Role::kParked;
    if (leaving && gen.finished()) {
      spdlog::info("{} retired", gen_name(gen.number));
      if (gen.served) {
        const auto took = std::chrono::steady_clock::now() - gen.retiring_since;
        spdlog::debug("{} retired {:.3f} ms after it was told to go", gen_name(gen.number),
                      std::chrono::duration<double, std::milli>(took).count());
        if (observer_) observer_->generation_retired(gen.number, took);
      }
      it = generations_.erase(it);
      retired = true;
    } else {
      ++it;
    }
  }
  if (retired) run_pending_upgrade();  // it may have waited for --max-generations
  if (state() != State::kStopping || !generations_.empty() || loop_stopped_) return;
  loop_stopped_ = true;
  spdlog::info("stopped: every worker has exited");
  signals_.clear();
  uv_stop(loop_);
}

}  // namespace baton
