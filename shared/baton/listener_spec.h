// Listener specs: how a user names a socket on the command line.
//
//   [NAME=]tcp://HOST:PORT      tcp://127.0.0.1:8080, http=tcp://[::1]:0
//   [NAME=]udp://HOST:PORT
//   [NAME=]unix:///ABS/PATH[?mode=0660]
//
// Listeners are identified by NAME (default "default") and travel to workers as
// name + URL, never as a bare fd number.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "baton/status.h"

namespace baton {

enum class ListenerKind { kTcp, kUdp, kUnix };

struct ListenerSpec {
  std::string name;
  ListenerKind kind = ListenerKind::kTcp;
  std::string host;             // tcp/udp: literal or hostname, without [ ]
  std::uint16_t port = 0;       // tcp/udp
  std::string path;             // unix: absolute path
  std::optional<mode_t> mode;   // unix: permissions applied after bind

  // Canonical URL, e.g. "tcp://[::1]:8080" or "unix:///run/app.sock?mode=0660".
  std::string url() const;
  // "NAME=URL", the form parse_listener_spec() accepts.
  std::string to_string() const { return name + "=" + url(); }

  bool operator==(const ListenerSpec&) const = default;
};

inline constexpr std::string_view kDefaultListenerName = "default";

// Parses "[NAME=]URL". Errors name the part that is wrong and how to write it.
Result<ListenerSpec> parse_listener_spec(std::string_view text);

}  // namespace baton
