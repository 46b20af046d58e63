// The listeners baton serves for its whole life: the sockets systemd passed
// (socket activation) and, for every --listen not among them, one bound here.
#pragma once

#include <vector>

#include "baton/listener_socket.h"
#include "baton/listener_spec.h"
#include "baton/status.h"

namespace baton {

// An activated socket whose name matches a --listen NAME is used for it;
// activated sockets no --listen names are served as they are.
Result<std::vector<BoundListener>> open_listeners(const std::vector<ListenerSpec>& specs);

}  // namespace baton
