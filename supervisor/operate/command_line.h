// The command line of `baton`: `baton run|status|upgrade|stop|check-config
// ...` and the config file's keys. main() parses it here and wires the rest.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "client_commands.h"
#include "options.h"

namespace baton {

enum class Command { kRun, kStatus, kUpgrade, kStop, kCheckConfig };

struct ParsedCommand {
  std::optional<Command> command;  // empty: exit now with exit_code (help printed, or an error)
  Options options;                 // run, check-config
  ClientOptions client;            // status, upgrade, stop
  std::string config_file;         // --config, or check-config's FILE
  std::optional<std::string> config_text;  // that file's text, as read (or as given)
  int exit_code = exit_code::kOk;
};

// Parses argv: `baton run|status|upgrade|stop|check-config ...`. Prints help
// or a clear error itself. A config file (--config) is read here too, unless
// its text is given (`config_text`: what the previous baton read, after
// upgrade --self); flags given on the command line win over its keys, lists
// included, and an empty value (--forward-signal "") clears the file's list.
ParsedCommand parse_command_line(int argc, char** argv, std::optional<std::string> config_text = std::nullopt);

// The config file's keys: one per `baton run` flag (config_file.h).
std::vector<std::string> config_keys();

}  // namespace baton
