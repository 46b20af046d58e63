#include "early_signals.h"

#include <cstring>

#include "handover_check.h"
#include "options.h"
#include "worker_identity.h"

namespace baton {

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGHUP, SIGTERM, SIGINT, SIGQUIT}) sigaddset(&set, s);
  for (int s : default_forward_signals()) sigaddset(&set, s);
  return set;
}

namespace {

// Run by the dynamic loader before any library's constructors and before
// main(): the window in which a signal still kills baton is then only the
// exec and the loading of its libraries (tests/bench/exec_window). Only the
// executable's own .preinit_array runs this early, so this file is compiled
// into baton, not into a library. A worker on its way to its --user, and the
// handover check, leave the mask alone: they exec what must start unmasked.
void block_handled_signals_before_main(int argc, char** argv, char** /*envp*/) {
  if (argc > 1 && (std::strcmp(argv[1], kExecAs) == 0 || std::strcmp(argv[1], kCheckHandover) == 0)) return;
  const sigset_t handled = handled_signals();
  ::sigprocmask(SIG_BLOCK, &handled, nullptr);
}

}  // namespace
}  // namespace baton

__attribute__((section(".preinit_array"), used)) static void (*const baton_block_signals_early)(int, char**, char**) =
    &baton::block_handled_signals_before_main;
