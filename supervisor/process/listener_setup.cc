#include "listener_setup.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <optional>

#include "socket_activation.h"

namespace baton {
namespace {

// A socket systemd passed, adopted so that its address is known.
struct Passed {
  std::optional<BoundListener> listener;  // empty once handed out
};

// The passed socket named `name`, taken out of `passed`.
std::optional<BoundListener> take_by_name(std::vector<Passed>& passed, const std::string& name) {
  for (auto& p : passed)
    if (p.listener && p.listener->spec().name == name) return std::exchange(p.listener, std::nullopt);
  return std::nullopt;
}

// Binding `spec` ourselves would collide with a socket systemd passed under
// another name: say so, rather than blame "another process".
Status check_not_passed_under_another_name(const std::vector<Passed>& passed, const ListenerSpec& spec) {
  for (const auto& p : passed) {
    if (!p.listener || p.listener->spec().url() != spec.url()) continue;
    const std::string& other = p.listener->spec().name;
    return Status::error("--listen " + spec.name + "=" + spec.url() + ": systemd passed that address as \"" +
                         other + "\"")
        .with_hint("name the listener " + other + " (--listen " + other + "=" + spec.url() +
                   "), or set FileDescriptorName=" + spec.name + " in the .socket unit");
  }
  return Status::ok();
}

Result<std::vector<Passed>> adopt_passed_sockets() {
  auto activated = take_activated_sockets();
  if (!activated) return activated.status();
  std::vector<Passed> passed;
  for (auto& a : *activated) {
    auto bound = adopt_listener(std::move(a.fd), a.name, SOMAXCONN);
    if (!bound) return bound.status();
    passed.push_back({std::move(bound.value())});
  }
  return passed;
}

}  // namespace

Result<std::vector<BoundListener>> open_listeners(const std::vector<ListenerSpec>& specs) {
  auto passed = adopt_passed_sockets();
  if (!passed) return passed.status();
  std::vector<BoundListener> out;
  for (const auto& spec : specs) {
    if (auto inherited = take_by_name(*passed, spec.name)) {
      spdlog::info("listening {} (from systemd)", inherited->spec().to_string());
      out.push_back(std::move(*inherited));
      continue;
    }
    if (Status st = check_not_passed_under_another_name(*passed, spec); !st) return st;
    auto bound = bind_listener(spec, SOMAXCONN);
    if (!bound) return bound.status();
    spdlog::info("listening {} (bound here)", bound->spec().to_string());
    out.push_back(std::move(bound.value()));
  }
  for (auto& p : *passed) {
    if (!p.listener) continue;
    spdlog::info("listening {} (from systemd)", p.listener->spec().to_string());
    out.push_back(std::move(*p.listener));
  }
  if (out.empty())
    return Status::error("no listeners").with_hint("pass --listen NAME=URL, or start baton through systemd socket activation");
  return out;
}

}  // namespace baton
