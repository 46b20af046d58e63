#include "options.h"

#include <csignal>

namespace baton {

std::vector<int> default_forward_signals() { return {SIGUSR1, SIGUSR2, SIGWINCH}; }

}  // namespace baton
