#include "signal_name.h"

#include <charconv>
#include <csignal>
#include <cstring>

namespace baton {

std::optional<int> parse_signal(std::string_view text) {
  int number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec == std::errc() && end == text.data() + text.size()) {
    if (number > 0 && number < NSIG) return number;
    return std::nullopt;
  }
  if (text.substr(0, 3) == "SIG") text.remove_prefix(3);
  for (int s = 1; s < NSIG; ++s) {
    const char* name = sigabbrev_np(s);
    if (name != nullptr && text == name) return s;
  }
  return std::nullopt;
}

std::string why_not_forwardable(int signum) {
  switch (signum) {
    case SIGHUP:
    case SIGTERM:
    case SIGINT:
    case SIGQUIT: return "baton acts on it itself (upgrade or stop)";
    case SIGKILL:
    case SIGSTOP: return "it cannot be caught";
    case SIGCHLD:
    case SIGPIPE: return "baton needs it for itself";
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGABRT:
    case SIGTRAP:
    case SIGSYS: return "it reports a fault in baton itself";
    default: return "";
  }
}

}  // namespace baton
