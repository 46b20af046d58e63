// Signals by name, as --forward-signal and the config file write them:
// "USR1", "SIGUSR1" or "10".
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace baton {

std::optional<int> parse_signal(std::string_view text);
// Why baton cannot forward `signum` (it acts on it, or it cannot be caught); empty if it can.
std::string why_not_forwardable(int signum);

}  // namespace baton
