// Reading a TOML config file (toml++) into the words of the command line.
//
// Every key is a `baton run` flag without its dashes, '-' written '_':
//
//   listen = ["http=tcp://127.0.0.1:8080"]   # --listen, once per entry
//   workers = 4                              # --workers 4
//   drain_timeout = "30s"                    # --drain-timeout 30s
//   command = ["/usr/bin/kvstore", "--x"]    # -- /usr/bin/kvstore --x
//
// so that one parser (options.cc) checks a value whichever way it came.
#pragma once

#include <string>
#include <vector>

#include "baton/status.h"

namespace baton {

struct ConfigSetting {
  std::string key;                  // "drain_timeout"
  std::vector<std::string> values;  // one per array entry; numbers in decimal
  std::string where;                // "baton.toml:7" for error messages
};

// The file's text: a regular file of at most kMaxConfigBytes (a FIFO or a
// device would block baton or never end); errors name the path.
inline constexpr std::size_t kMaxConfigBytes = 1 << 20;
Result<std::string> read_config_text(const std::string& path);
// Syntax errors and values of the wrong type name the file (`path`), the line and the key.
Result<std::vector<ConfigSetting>> parse_config(const std::string& text, const std::string& path);

}  // namespace baton
