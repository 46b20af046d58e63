// The handover table (baton upgrade --self): everything a running baton
// passes to the baton binary it re-executes in place, besides the fds
// themselves, which stay open across the exec and are named here by number.
// It travels in a sealed memfd (BATON_HANDOVER_FD) as JSON with a version
// number: a newer baton reads an older table, and the binary that is to
// read it proves it can (`baton __check-handover`) before the exec.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "baton/status.h"
#include "baton/unique_fd.h"

namespace baton {

// The table versions this baton writes and reads.
inline constexpr unsigned kHandoverVersion = 1;
inline constexpr const char* kHandoverEnv = "BATON_HANDOVER_FD";
// How long the new binary has to prove it can read a table (handover_check.h;
// `baton upgrade --self` waits longer for its answer).
inline constexpr std::chrono::milliseconds kHandoverCheckDeadline{10'000};

struct HandoverWorker {
  pid_t pid = 0;
  int channel_fd = -1, out_fd = -1, err_fd = -1;
  std::string state;  // "ready", "draining" or "parked"
  double uptime_seconds = 0;
  bool handoff_sender = false;  // it handed off (a parked worker)
  std::vector<std::uint32_t> state_versions;
  std::string deadline;         // "": none; "sigterm" or "sigkill": what is due...
  std::int64_t deadline_ms = 0; // ...in this long
  std::uint32_t features = 0;   // what its FEATURES said (absent from tables written before it: 0)
};

struct HandoverSlot {
  unsigned restarts = 0;
  std::optional<HandoverWorker> worker;  // none while it waits to restart
  std::int64_t restart_in_ms = 0;        // without a worker: when it restarts
};

struct HandoverGeneration {
  std::uint64_t number = 0;
  std::string role;  // "serving", "retiring" or "parked"
  bool served = false, rollback = false;
  double retiring_for_seconds = 0;
  std::string executable_path;  // --probation: the file it was started from...
  int executable_fd = -1;       // ...held open
  std::vector<HandoverSlot> slots;
};

struct HandoverSocket {
  std::string spec;  // NAME=URL
  int fd = -1;
  bool owns_path = false;  // a unix socket file to remove at exit
};

// What --watch knew (executable_watch.h): the file the last upgrade started
// from, and whether a change of it was settling.
struct HandoverWatch {
  bool upgraded_to_known = false;
  std::uint64_t device = 0, inode = 0;
  std::int64_t size = 0, mtime_ns = 0;
  bool pending = false;
};

struct HandoverTable {
  unsigned version = kHandoverVersion;
  std::string written_by;  // the baton version that wrote it
  std::uint64_t self_upgrades = 0;  // in-place upgrades so far, this one included
  double uptime_seconds = 0;        // baton's, at the handover
  std::int64_t exec_at_ms = 0;      // wall clock (ms since the epoch) just before the exec: the pause starts
  std::vector<HandoverSocket> listeners;
  HandoverSocket control;
  std::optional<HandoverSocket> metrics;
  std::string notify_socket;  // NOTIFY_SOCKET, if systemd listens
  std::uint64_t next_generation = 1, serving = 0;
  std::uint64_t upgrades_committed = 0, upgrades_failed = 0, worker_restarts = 0, rollbacks = 0;
  std::vector<HandoverGeneration> generations;
  // Added after version 1 was first written; absent in an older table.
  std::optional<std::string> config_text;  // the --config file as baton read it at start
  std::optional<HandoverWatch> watch;      // with --watch

  // Every fd the table names, each once.
  std::vector<int> fds() const;
};

// A sealed memfd holding the table.
Result<UniqueFd> write_handover(const HandoverTable& table);
// The table in `fd`; an error names what this baton cannot read.
Result<HandoverTable> read_handover(int fd);

}  // namespace baton
