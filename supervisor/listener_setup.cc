#include "listener_setup.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include "socket_activation.h"

namespace baton {

Result<std::vector<BoundListener>> open_listeners(const std::vector<ListenerSpec>& specs) {
  auto activated = take_activated_sockets();
  if (!activated) return activated.status();
  std::vector<BoundListener> out;
  std::vector<bool> used(activated->size(), false);
  for (const auto& spec : specs) {
    std::size_t match = activated->size();
    for (std::size_t i = 0; i < activated->size(); ++i)
      if (!used[i] && (*activated)[i].name == spec.name) match = i;
    const bool inherited = match < activated->size();
    if (inherited) used[match] = true;
    auto bound = inherited ? adopt_listener(std::move((*activated)[match].fd), spec.name, SOMAXCONN)
                           : bind_listener(spec, SOMAXCONN);
    if (!bound) return bound.status();
    spdlog::info("listening {} ({})", bound->spec().to_string(), inherited ? "from systemd" : "bound here");
    out.push_back(std::move(bound.value()));
  }
  for (std::size_t i = 0; i < activated->size(); ++i) {
    if (used[i]) continue;
    auto bound = adopt_listener(std::move((*activated)[i].fd), (*activated)[i].name, SOMAXCONN);
    if (!bound) return bound.status();
    spdlog::info("listening {} (from systemd)", bound->spec().to_string());
    out.push_back(std::move(bound.value()));
  }
  if (out.empty())
    return Status::error("no listeners").with_hint("pass --listen NAME=URL, or start baton through systemd socket activation");
  return out;
}

}  // namespace baton
