// ExecutableWatch (--watch): upgrades when the worker's executable is
// replaced, the way a "rebuild, rename, restart" loop would restart, minus
// the downtime.
//
// It watches the file's directory (inotify through uv_fs_event), since a
// deploy by rename replaces the directory entry, not the file. After the last
// event it waits `settle` with no further change, then checks that the file is
// whole (executable_complete.h) before asking for an upgrade. It remembers the
// file each upgrade started from (device, inode, size, mtime), so the same
// file never starts a second upgrade: a bad build is tried once, not in a
// loop, and tried again only when the file changes.
#pragma once

#include <sys/stat.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "baton/status.h"
#include "baton/uv_handle.h"
#include "handover_table.h"
#include "supervisor_observer.h"

namespace baton {

class ExecutableWatch final : public SupervisorObserver {
 public:
  using UpgradeFn = std::function<void(const std::string& why)>;
  ExecutableWatch(uv_loop_t* loop, std::string path, std::chrono::milliseconds settle, UpgradeFn upgrade);
  ExecutableWatch(const ExecutableWatch&) = delete;
  ExecutableWatch& operator=(const ExecutableWatch&) = delete;

  // Starts watching; the file as it is now counts as already upgraded to,
  // unless `adopted` (what the previous baton knew, upgrade --self) says
  // otherwise: then a change it was settling, or one made during the exec,
  // upgrades as it would have.
  Status start(const std::optional<HandoverWatch>& adopted = std::nullopt);
  // For the handover table.
  HandoverWatch handover() const;
  // Any upgrade (SIGHUP, `baton upgrade`, this watch) runs the file as it is now.
  void upgrade_started(const UpgradeRecord& upgrade) override;
  void stopping() override;

 private:
  struct Identity {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    timespec mtime{};
    bool operator==(const Identity& o) const;
  };
  static void on_event(uv_fs_event_t* handle, const char* filename, int events, int status);
  std::optional<Identity> identify() const;
  void changed();   // an event about our file: (re)start the settle timer
  void settled();   // `settle` passed without an event

  uv_loop_t* loop_;
  std::string path_, dir_, name_;
  std::chrono::milliseconds settle_;
  UpgradeFn upgrade_;
  UvHandle<uv_fs_event_t> event_;
  Timer settle_timer_;
  std::optional<Identity> upgraded_to_;  // the file the last upgrade started from
  std::optional<Identity> last_refused_; // said once per file: "incomplete", "not executable"
};

}  // namespace baton
