// WorkerProcess, a hung worker's clients (issue 23): before a hung worker is
// ended, baton takes its client connections (client_takeover.h); once the
// slot's next worker is READY, they go to it in INHERIT messages, so a
// keep-alive client that sat idle on the hung worker gets its next answer
// from the replacement instead of a reset. A replacement that did not say
// FEATURES_SERVES_INHERITED gets none: baton closes them (a FIN).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>

#include "client_takeover.h"
#include "worker_process.h"

namespace baton {

void WorkerProcess::take_clients() {
  std::vector<std::uint16_t> ports;
  for (const auto& l : listeners_)
    if (l.spec().kind == ListenerKind::kTcp) ports.push_back(l.spec().port);
  if (ports.empty()) return;
  auto taken = take_client_connections(exit_.pidfd(), pid_, ports);
  if (!taken) {
    return spdlog::warn("{}: its client connections cannot be kept ({}); they are reset when it ends", name_,
                        taken.status().message());
  }
  const auto mid = std::count_if(taken->begin(), taken->end(), [](const auto& c) { return c.mid_request; });
  spdlog::info("{}: took its {} client connections for its replacement ({} waiting for a request, {} in the middle "
               "of one, which the replacement closes); what it held in memory is lost",
               name_, taken->size(), taken->size() - mid, mid);
  kept_ = std::make_shared<KeptConnections>(std::move(*taken));
}

void WorkerProcess::pass_inherited() {
  auto inherited = std::move(config_.inherited);
  if (!inherited || inherited->empty()) return;
  if (!stage_.serves_inherited) {
    return spdlog::warn("{} does not serve a hung worker's clients (FEATURES bit 4): closing the {} taken for it",
                        name_, inherited->size());
  }
  if (Status st = carry_out(worker_protocol::Command::kInherit, {.inherited = inherited.get()}); !st)
    return spdlog::warn("{}: {} client connections of a hung worker lost: {}", name_, inherited->size(), st.message());
  spdlog::info("{} serves the {} client connections of the hung worker it replaces", name_, inherited->size());
}

// At most one datagram of fds per INHERIT.
Status WorkerProcess::send_inherit(KeptConnections& connections) {
  for (std::size_t at = 0; at < connections.size(); at += kMaxConnectionsPerBatch) {
    const std::size_t end = std::min<std::size_t>(connections.size(), at + kMaxConnectionsPerBatch);
    Inherit batch;
    std::vector<int> fds;
    for (std::size_t i = at; i < end; ++i) {
      batch.flags.push_back(connections[i].mid_request ? kInheritMidRequest : 0);
      fds.push_back(connections[i].fd.get());
    }
    if (Status st = channel_.send(batch, fds); !st) return st;
  }
  return Status::ok();
}

}  // namespace baton
