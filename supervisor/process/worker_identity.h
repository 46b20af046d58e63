// --user and --group: who the workers run as.
//
// baton binds its listeners as root, then starts each worker through itself:
//
//   baton __exec-as UID GID GROUP,GROUP,... EXECUTABLE -- WORKER-ARGV...
//
// which sets the supplementary groups, the gid and the uid (in that order,
// while it still may), clears ambient capabilities, checks that root cannot
// be regained, and execs the worker in place: the pid baton spawned is the
// worker's. (libuv's own setuid would clear the supplementary groups.)
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "baton/status.h"

namespace baton {

struct WorkerIdentity {
  std::string user;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // the user's supplementary groups, gid included
};

// Looks the user (and group: default the user's primary group) up. Errors
// name what is missing, or say that only root can do this.
Result<WorkerIdentity> resolve_identity(const std::string& user, const std::string& group);

// The argv that runs `command` (its argv[0] found at `executable`) as `who`.
std::vector<std::string> exec_as_argv(const WorkerIdentity& who, const std::string& executable,
                                      const std::vector<std::string>& command);

// The hidden `baton __exec-as ...` itself; returns only on failure (126).
int exec_as_main(int argc, char** argv);
inline constexpr const char* kExecAs = "__exec-as";

}  // namespace baton
