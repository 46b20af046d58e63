// Where the control socket lives:
//
//   --control PATH                  exactly there
//   --name NAME (default: the worker's file name)
//     root                          /run/baton/NAME.sock
//     $XDG_RUNTIME_DIR set          $XDG_RUNTIME_DIR/baton/NAME.sock
//     otherwise                     /tmp/baton-UID/NAME.sock
//
// baton creates the directory (mode 0700) and refuses one that another user
// owns or could write to: the socket's 0600 mode is only half the protection.
#pragma once

#include <string>
#include <vector>

#include "baton/status.h"

namespace baton {

std::string default_control_dir();
// "kvstore" for ./build/bin/kvstore.
std::string name_from_command(const std::string& argv0);
// A name is a file name: letters, digits, '.', '_', '-', '@', at most 64.
Status check_service_name(const std::string& name);

// The path `baton run` listens on, its directory made ready.
Result<std::string> server_control_path(const std::string& name, const std::string& explicit_path);
// The path a client command talks to. With neither --control nor --name, the
// one socket in the default directory (an error names them if there are several).
Result<std::string> client_control_path(const std::string& name, const std::string& explicit_path);

}  // namespace baton
