#include "baton/listener_spec.h"

#include <charconv>
#include <cstdio>

namespace baton {
namespace {

constexpr const char* kForms =
    "write NAME=tcp://HOST:PORT, NAME=udp://HOST:PORT or NAME=unix:///PATH[?mode=0660]";

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// Letters a host can be written with: a name or IPv4 literal, or inside
// brackets an IPv6 literal (with an optional %zone). Anything else could not
// be printed back as the same spec.
bool valid_host(std::string_view host, bool bracketed) {
  for (char c : host) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    bool ok = bracketed ? alnum || c == ':' || c == '.' || c == '%' : alnum || c == '.' || c == '-' || c == '_';
    if (!ok) return false;
  }
  return !bracketed || host.find(':') != std::string_view::npos;
}

Status parse_host_port(std::string_view rest, ListenerSpec& spec) {
  std::string_view host, port;
  const bool bracketed = !rest.empty() && rest.front() == '[';
  if (bracketed) {
    auto close = rest.find(']');
    if (close == std::string_view::npos)
      return Status::error("IPv6 address \"" + std::string(rest) + "\" has no closing ']'");
    host = rest.substr(1, close - 1);
    auto after = rest.substr(close + 1);
    if (after.empty() || after.front() != ':')
      return Status::error("missing :PORT after \"" + std::string(rest.substr(0, close + 1)) +
                           "\"");
    port = after.substr(1);
  } else {
    auto colon = rest.rfind(':');
    if (colon == std::string_view::npos)
      return Status::error("missing :PORT in \"" + std::string(rest) + "\"");
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (host.find(':') != std::string_view::npos)
      return Status::error("IPv6 address \"" + std::string(host) +
                           "\" must be written in brackets, like tcp://[::1]:8080");
  }
  if (host.empty()) return Status::error("missing HOST (use 0.0.0.0 or [::] for all addresses)");
  if (!valid_host(host, bracketed))
    return Status::error("host \"" + std::string(host) + "\" is not " +
                         (bracketed ? "an IPv6 address" : "a host name or IPv4 address"));
  if (port.empty()) return Status::error("missing PORT after ':'");
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size())
    return Status::error("port \"" + std::string(port) + "\" is not a number");
  if (value > 65535)
    return Status::error("port " + std::string(port) + " is out of range 0-65535");
  spec.host = std::string(host);
  spec.port = static_cast<std::uint16_t>(value);
  return Status::ok();
}

Status parse_unix(std::string_view rest, ListenerSpec& spec) {
  auto query = rest.find('?');
  std::string_view path = rest.substr(0, query);
  if (path.empty() || path.front() != '/')
    return Status::error("unix socket path \"" + std::string(path) +
                         "\" must be absolute, like unix:///run/app.sock");
  // sun_path holds 108 bytes including the terminating NUL.
  if (path.size() > 107)
    return Status::error("unix socket path is " + std::to_string(path.size()) +
                         " bytes; the limit is 107");
  spec.path = std::string(path);
  if (query == std::string_view::npos) return Status::ok();
  auto q = rest.substr(query + 1);
  if (q.substr(0, 5) != "mode=")
    return Status::error("unknown option \"" + std::string(q) + "\" (only ?mode=0NNN is known)");
  auto digits = q.substr(5);
  unsigned mode = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), mode, 8);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || mode > 07777)
    return Status::error("mode \"" + std::string(digits) + "\" is not an octal mode like 0660");
  spec.mode = static_cast<mode_t>(mode);
  return Status::ok();
}

}  // namespace

std::string ListenerSpec::url() const {
  switch (kind) {
    case ListenerKind::kUnix: {
      std::string u = "unix://" + path;
      if (mode) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "?mode=%04o", static_cast<unsigned>(*mode));
        u += buf;
      }
      return u;
    }
    case ListenerKind::kTcp:
    case ListenerKind::kUdp: {
      std::string scheme = kind == ListenerKind::kTcp ? "tcp://" : "udp://";
      bool v6 = host.find(':') != std::string::npos;
      return scheme + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
    }
  }
  return {};
}

Result<ListenerSpec> parse_listener_spec(std::string_view text) {
  auto fail = [&](const Status& s) {
    return s.with_context("listener \"" + std::string(text) + "\"");
  };
  ListenerSpec spec;
  std::string_view url = text;
  auto scheme_pos = text.find("://");
  auto eq = text.find('=');
  if (eq != std::string_view::npos && (scheme_pos == std::string_view::npos || eq < scheme_pos)) {
    auto name = text.substr(0, eq);
    if (!valid_name(name))
      return fail(Status::error("name \"" + std::string(name) +
                                "\" must be 1-64 letters, digits, '_', '-' or '.'"));
    spec.name = std::string(name);
    url = text.substr(eq + 1);
  } else {
    spec.name = std::string(kDefaultListenerName);
  }
  scheme_pos = url.find("://");
  if (scheme_pos == std::string_view::npos)
    return fail(Status::error(std::string("no scheme; ") + kForms));
  auto scheme = url.substr(0, scheme_pos);
  auto rest = url.substr(scheme_pos + 3);
  Status st;
  if (scheme == "tcp" || scheme == "udp") {
    spec.kind = scheme == "tcp" ? ListenerKind::kTcp : ListenerKind::kUdp;
    st = parse_host_port(rest, spec);
  } else if (scheme == "unix") {
    spec.kind = ListenerKind::kUnix;
    st = parse_unix(rest, spec);
  } else {
    st = Status::error("unknown scheme \"" + std::string(scheme) + "\"; " + kForms);
  }
  if (!st) return fail(st);
  return spec;
}

}  // namespace baton
