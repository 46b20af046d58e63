// HandoverCheck: `baton upgrade --self` asks the new binary, before baton
// execs it, to prove that it can take over. It runs as a child of baton,
//
//   NEW_BATON __check-handover -- ARGS...    (the handover table on stdin)
//
// and must read the table, parse ARGS as the new image will (the config file
// as the table carries it), and answer with the exact line kHandoverOk. The
// check is watched from baton's loop like any process baton starts: its exit
// through a pidfd, its answer from a pipe read once it has exited, a
// deadline after which it is killed. Meanwhile baton goes on serving:
// restarts, upgrades, the control socket and the metrics endpoint.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "baton/status.h"
#include "baton/unique_fd.h"
#include "baton/uv_handle.h"
#include "child_exit.h"

namespace baton {

inline constexpr const char* kCheckHandover = "__check-handover";
inline constexpr const char* kHandoverOk = "baton handover table ok";


class HandoverCheck {
 public:
  using Done = std::function<void(const Status&)>;
  // Starts `self_path __check-handover -- args...` with `table_fd` on its
  // stdin; `done` runs once, on the loop, with ok or why not. The deadline
  // kills a check that takes longer.
  static Result<std::unique_ptr<HandoverCheck>> start(uv_loop_t* loop, const std::string& self_path,
                                                      const std::vector<std::string>& args, int table_fd,
                                                      std::chrono::milliseconds deadline, Done done);
  // A check still running is killed and reaped.
  ~HandoverCheck();
  HandoverCheck(const HandoverCheck&) = delete;
  HandoverCheck& operator=(const HandoverCheck&) = delete;

  pid_t pid() const { return pid_; }

 private:
  HandoverCheck(uv_loop_t* loop, std::string self_path, Done done);
  Status watch(std::chrono::milliseconds deadline);
  void exited(int status);
  Status verdict(int status, const std::string& said) const;

  uv_loop_t* loop_;
  std::string self_path_;
  Done done_;
  pid_t pid_ = -1;
  UniqueFd answer_;  // the read end of its stdout and stderr
  ChildExit exit_;
  Timer deadline_;
  bool timed_out_ = false;
  std::string deadline_text_;  // "10s", once it passed
};

// `baton __check-handover -- ARGS...` in the new binary: reads the table on
// stdin and parses ARGS with it; its exit code (0 after kHandoverOk).
int check_handover_main(int argc, char** argv);

}  // namespace baton
