// Finding the worker's executable before each spawn, the way execvp would
// ($PATH for a bare name), and saying clearly what execvp does not: a
// directory, a file without execute permission, or a file that is neither a
// binary nor a #! script (which glibc's execvp would hand to /bin/sh).
#pragma once

#include <string>

#include "baton/status.h"

namespace baton {

// The path to exec. Errors carry ENOENT, EISDIR, EACCES or ENOEXEC.
Result<std::string> resolve_executable(const std::string& name);

}  // namespace baton
