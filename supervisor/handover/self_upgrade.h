// baton upgrade --self: baton re-executes its own binary in place. The PID
// stays, so the workers stay its children; every fd the handover table names
// (listeners, control socket, metrics listener, each worker's channel and
// output pipes, held executables) stays open across the exec; the table
// itself travels in a sealed memfd named by BATON_HANDOVER_FD. The table
// also carries what the new image must not read again: the config file's
// text as baton read it at start, and what --watch was waiting for.
//
// The new binary must prove first that it can take over (handover_check.h):
// anything else (another program, an older baton, a config it refuses, a
// crash, 10 s of silence) refuses the self-upgrade and the old baton serves
// on. The check runs beside baton's loop; the table is written again, from
// the state of that moment, just before the exec.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "baton/status.h"
#include "handover_check.h"
#include "handover_table.h"
#include "service_setup.h"
#include "supervisor.h"

namespace baton {

class SelfUpgrade {
 public:
  using Answer = std::function<void()>;
  using Refused = std::function<void(const std::string& why)>;

  // `setup` and `supervisor` outlive this.
  SelfUpgrade(uv_loop_t* loop, Supervisor& supervisor, const Setup& setup);
  ~SelfUpgrade();

  // Checks the new binary, then re-executes it in place: `answer` runs just
  // before the exec; `refused(why)` when it does not happen (now or once the
  // check has ended).
  void request(Answer answer, Refused refused);
  bool checking() const { return check_ != nullptr; }
  // The check's process: a child of baton that is not a worker.
  bool owns_child(pid_t pid) const { return check_ && check_->pid() == pid; }

 private:
  Result<UniqueFd> table_now(HandoverTable* written = nullptr) const;
  void checked(const Status& st);
  std::string hand_over(const Answer& answer);

  uv_loop_t* loop_;
  Supervisor& supervisor_;
  const Setup& setup_;
  std::unique_ptr<HandoverCheck> check_;
  Answer answer_;
  Refused refused_;
};

// execv(self.path, self.argv) with the table's fds and `table_fd`
// inherited, and the signals baton handles blocked across the exec (they
// stay pending until the new image has its handlers); `last_words` runs
// once they are blocked, just before the exec. Returns only if the exec
// failed, with every fd and the signal mask as they were.
Status exec_with_handover(const SelfImage& self, const HandoverTable& table, int table_fd,
                          const std::function<void()>& last_words);
// In the new baton: the table it was handed, if any (the variable is unset).
std::optional<Result<HandoverTable>> inherited_handover();
// The new baton's first line after taking over.
void log_takeover(const HandoverTable& table);

}  // namespace baton
