// baton upgrade --self: baton re-executes its own binary in place. The PID
// stays, so the workers stay its children; every fd the handover table names
// (listeners, control socket, metrics listener, each worker's channel and
// output pipes, held executables) stays open across the exec; the table
// itself travels in a sealed memfd named by BATON_HANDOVER_FD.
//
// The new binary must prove first that it can read the table: it runs as
// `baton __check-handover` with the table on stdin and must answer with the
// exact line kHandoverOk. Anything else (another program, an older baton, a
// crash, 10 s of silence) refuses the self-upgrade and the old baton serves on.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "baton/status.h"
#include "handover_table.h"
#include "service_setup.h"
#include "supervisor.h"

namespace baton {

inline constexpr const char* kCheckHandover = "__check-handover";
inline constexpr const char* kHandoverOk = "baton handover table ok";

// Runs `self_path __check-handover` on the table in `table_fd`.
Status check_handover(const std::string& self_path, int table_fd);
// execv(self_path, argv) with the table's fds and `table_fd` inherited.
// Returns only if the exec failed, with every fd as it was.
Status exec_with_handover(const std::string& self_path, const std::vector<std::string>& argv,
                          const HandoverTable& table, int table_fd);
// In the new baton: the table it was handed, if any (the variable is unset).
std::optional<Result<HandoverTable>> inherited_handover();
// `baton __check-handover`: reads the table on stdin; its exit code.
int check_handover_main();

// `baton upgrade --self` (the control socket's `upgrade self`): checks, then
// re-executes setup.self in place. Returns only when that did not happen,
// and why; `answer` runs just before the exec.
std::string upgrade_self(Supervisor& supervisor, const Setup& setup, const std::function<void()>& answer);
// The new baton's first line after taking over.
void log_takeover(const HandoverTable& table);

}  // namespace baton
