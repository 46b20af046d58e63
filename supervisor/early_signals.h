// The signals baton acts on, blocked from the first instant the process can
// block anything: until their handlers are in place, one sent while baton
// starts (ExecReload right after start, a script's kill -HUP) waits, and
// becomes the queued upgrade, instead of killing baton by its default action.
#pragma once

#include <signal.h>

namespace baton {

sigset_t handled_signals();  // HUP, TERM, INT, QUIT and the ones always forwarded

}  // namespace baton
