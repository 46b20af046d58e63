// Fake workers for the supervisor's unit tests (tests/unit/supervisor_test.cc):
// a WorkerLauncher whose workers do what the test says, when the test says,
// with no process and no socket.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "worker_handle.h"

namespace testing_support {

using baton::HandoffRole;
using baton::HandoffTotals;
using baton::HeldFile;
using baton::Precopied;
using baton::Result;
using baton::Status;
using baton::Successor;
using baton::WorkerConfig;
using baton::WorkerEvents;
using baton::WorkerExit;
using baton::WorkerHandle;
using baton::WorkerLauncher;
using baton::WorkerState;

class FakeLauncher;

// A worker that does what the test says, when the test says.
class FakeWorker final : public WorkerHandle {
 public:
  FakeWorker(FakeLauncher& launcher, WorkerConfig config, WorkerEvents& events, pid_t pid);
  ~FakeWorker() override;

  pid_t pid() const override { return pid_; }
  WorkerState state() const override { return state_; }
  std::chrono::steady_clock::time_point started_at() const override { return started_; }
  const std::string& name() const override { return name_; }
  std::uint64_t generation() const override { return config.generation; }
  std::uint32_t index() const override { return config.index; }
  void drain(std::chrono::milliseconds) override { state_ = WorkerState::kDraining; ++drains; }
  void terminate() override { state_ = WorkerState::kDraining; ++terminates; }
  void end_low_start() override { ++low_start_ended; }
  void forward(int signum) override { forwarded.push_back(signum); }
  void reject(const std::string& reason) override { rejected = reason; }
  void abandon(const std::string& reason) override { rejected = reason; }
  const std::vector<std::uint32_t>& state_versions() const override { return versions; }
  std::uint32_t features() const override { return features_said; }
  std::optional<std::uint64_t> private_memory() const override { return memory; }
  Status begin_handoff(HandoffRole role, const Successor& successor, std::chrono::milliseconds,
                       int link_fd) override {
    handoff_role = role == HandoffRole::kSender ? "sender" : "receiver";
    handoff_accepted = successor.state_versions;
    link_was_valid = ::fcntl(link_fd, F_GETFD) != -1;
    state_ = WorkerState::kHandingOff;
    return Status::ok();
  }
  void commit(std::chrono::milliseconds) override {
    ++commits;
    state_ = state_ == WorkerState::kRestored ? WorkerState::kReady : WorkerState::kDraining;
  }
  void resume() override {
    if (state_ != WorkerState::kHandingOff && state_ != WorkerState::kSent && state_ != WorkerState::kParked) return;
    ++resumes;
    state_ = WorkerState::kReady;
  }
  // A fake parks at once (PARKED without a round trip).
  void park(std::chrono::milliseconds) override {
    ++parks;
    state_ = WorkerState::kParked;
  }

  // Test controls.
  void become_ready() {
    state_ = WorkerState::kReady;
    events_.on_ready(*this);
  }
  void stand_by(std::vector<std::uint32_t> loads) {
    versions = std::move(loads);
    state_ = WorkerState::kStandby;
    events_.on_standby(*this);
  }
  void precopied() { events_.on_precopied(*this, Precopied{}); }
  void sent() {
    state_ = WorkerState::kSent;
    events_.on_sent(*this, {100, 2});
  }
  void restored() {
    state_ = WorkerState::kRestored;
    events_.on_restored(*this, {100, 2});
  }
  void refuse(const std::string& why) { events_.on_refused(*this, why); }
  void report_unhealthy(const std::string& why) { events_.on_unhealthy(*this, why); }
  // Ends the worker; `this` is destroyed by the supervisor during the call.
  void exit(int status = 0, int signal = 0) { on_exit_with(WorkerExit{status, signal, rejected}); }
  void on_exit_with(const WorkerExit& info) {
    state_ = WorkerState::kExited;
    events_.on_exit(*this, info);
  }

  const WorkerConfig config;
  int drains = 0, terminates = 0, commits = 0, resumes = 0, parks = 0, low_start_ended = 0;
  std::uint32_t features_said = 0;  // FEATURES, as set before it stands by
  std::vector<int> forwarded;
  std::string rejected;
  std::vector<std::uint32_t> versions;
  std::string handoff_role;
  std::vector<std::uint32_t> handoff_accepted;
  bool link_was_valid = false;
  std::optional<std::uint64_t> memory;  // what private_memory() says

 private:
  FakeLauncher& launcher_;
  WorkerEvents& events_;
  pid_t pid_;
  WorkerState state_ = WorkerState::kStarting;
  std::string name_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

// A held file as the fakes see it: its path, on disk until a test says not.
class FakeHeldFile final : public HeldFile {
 public:
  explicit FakeHeldFile(std::string path) : path_(std::move(path)) {}
  const std::string& path() const override { return path_; }
  bool on_disk() const override { return true; }
  std::string exec_path() const override { return path_; }
  int fd() const override { return -1; }

 private:
  std::string path_;
};

class FakeLauncher final : public WorkerLauncher {
 public:
  Result<std::shared_ptr<const HeldFile>> hold(const std::string& command) override {
    ++holds;
    return std::shared_ptr<const HeldFile>(std::make_shared<FakeHeldFile>(command));
  }
  Result<std::unique_ptr<WorkerHandle>> launch(WorkerConfig config, WorkerEvents& events) override {
    ++launches;
    if (fail_next) {
      fail_next = false;
      return Status::from_errno(ENOENT, "start worker " + config.command[0]);
    }
    auto w = std::make_unique<FakeWorker>(*this, std::move(config), events, next_pid++);
    return std::unique_ptr<WorkerHandle>(std::move(w));
  }

  // The live worker of generation g, slot i (null if none); the newest, when
  // a recycle's successor shares the slot.
  FakeWorker* worker(std::uint64_t g, std::uint32_t i = 0) {
    auto it = live.find({g, i});
    return it == live.end() ? nullptr : it->second;
  }
  std::size_t live_count() const { return live.size(); }
  std::optional<baton::MemoryBudget> memory_budget() const override { return budget; }

  int launches = 0;
  std::optional<baton::MemoryBudget> budget;  // none: no memory limit
  int holds = 0;
  bool fail_next = false;
  pid_t next_pid = 1000;
  std::map<std::pair<std::uint64_t, std::uint32_t>, FakeWorker*> live;
};

inline FakeWorker::FakeWorker(FakeLauncher& launcher, WorkerConfig config, WorkerEvents& events, pid_t pid)
    : config(std::move(config)), launcher_(launcher), events_(events), pid_(pid),
      name_("fake " + std::to_string(this->config.generation) + "." + std::to_string(this->config.index)) {
  launcher_.live[{this->config.generation, this->config.index}] = this;
}

// A recycle's successor shares its slot: the newest is the slot's.
inline FakeWorker::~FakeWorker() {
  auto it = launcher_.live.find({config.generation, config.index});
  if (it != launcher_.live.end() && it->second == this) launcher_.live.erase(it);
}


}  // namespace testing_support
