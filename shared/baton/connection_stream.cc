#include "baton/connection_stream.h"

#include <algorithm>
#include <cerrno>
#include <string>
#include <string_view>
#include <type_traits>

namespace baton {

Result<Envelope> next_on_link(Channel& link, Deadline deadline, const char* waiting_for) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Channel::Clock::now());
  auto r = link.receive_wait(std::max(ms, std::chrono::milliseconds(0)));
  if (!r) return r.status().with_context(std::string("handoff link, waiting for ") + waiting_for);
  if (r->outcome == Channel::Outcome::kClosed)
    return Status::error(std::string("handoff link closed while waiting for ") + waiting_for +
                         " (the other worker died?)");
  return std::move(r->message);
}

// ---- the old worker's side ---------------------------------------------------

Result<bool> ConnectionLender::lend(Channel& link, std::span<const OpenConnection> open, std::size_t at_most) {
  ConnectionsAhead batch;
  std::size_t sent = 0;
  std::vector<int> fds;
  auto flush = [&]() -> Result<bool> {
    if (batch.ids.empty()) return true;
    Status st = link.send(batch, fds, Channel::kNoWait);
    if (!st && st.error_number() == EAGAIN) return false;  // full: nothing of it went
    if (!st) return st.with_context("CONNECTIONS_AHEAD");
    lent_.insert(batch.ids.begin(), batch.ids.end());
    sent += batch.ids.size();
    batch.ids.clear();
    fds.clear();
    return true;
  };
  for (const OpenConnection& c : open) {
    if (c.id == 0 || lent(c.id)) continue;
    batch.ids.push_back(c.id);
    fds.push_back(c.fd);
    if (batch.ids.size() < kMaxConnectionsPerBatch) continue;
    auto flushed = flush();
    if (!flushed || !*flushed) return flushed;
    if (sent >= at_most) return false;  // the rest next turn: the loop serves between
  }
  return flush();
}

namespace {

// What of a connection's pending input travels inline in its batch entry.
std::string_view inline_pending(const ExportedConnection& c) {
  return std::string_view(c.pending).substr(0, kMaxConnectionBytes);
}

// One batch from order[first...]: as many as one datagram holds, all lent
// ahead (CONNECTIONS_BY_ID, no fds) or none (CONNECTIONS, an fd each).
// Returns the index after the last one taken.
template <class Batch>
std::size_t fill_batch(std::span<const ExportedConnection* const> order, std::size_t first, std::uint64_t max,
                       Batch& batch, std::vector<int>& fds) {
  constexpr bool kById = std::is_same_v<Batch, ConnectionsById>;
  std::size_t body = 1 + 8;  // endianness byte + list count
  std::size_t i = first;
  for (; i < order.size() && batch.connections.size() < max; ++i) {
    const ExportedConnection& c = *order[i];
    const std::string_view pending = inline_pending(c);
    const std::size_t size = (kById ? 24 : 16) + pending.size() + c.app.size();
    if (!batch.connections.empty() && body + size > kMaxBodySize) break;
    body += size;
    if constexpr (kById) {
      batch.connections.push_back({c.id, {std::string(pending), c.app}});
    } else {
      batch.connections.push_back({std::string(pending), c.app});
      fds.push_back(c.fd);
    }
  }
  return i;
}

// The bytes of one kind beyond what travelled inline, in CONNECTION_DATA chunks.
Status send_data(Channel& link, std::uint32_t index, ConnectionData::Kind kind, std::string_view bytes,
                 Deadline deadline) {
  for (std::size_t off = 0; off < bytes.size(); off += kMaxChunkBytes) {
    ConnectionData d{index, kind, std::string(bytes.substr(off, kMaxChunkBytes))};
    if (Status st = link.send(d, {}, deadline); !st) return st.with_context("CONNECTION_DATA");
  }
  return Status::ok();
}

Status check_limits(std::span<const ExportedConnection> connections) {
  for (const auto& c : connections) {
    if (c.app.size() > kMaxConnectionBytes)
      return Status::error("a connection carries " + std::to_string(c.app.size()) +
                           " bytes of application data; the limit is " + std::to_string(kMaxConnectionBytes));
    if (c.pending.size() > kMaxConnectionDataBytes || c.unsent.size() > kMaxConnectionDataBytes)
      return Status::error("a connection carries more than " + std::to_string(kMaxConnectionDataBytes) +
                           " bytes of pending input or unsent output");
  }
  return Status::ok();
}

}  // namespace

Status send_connections(Channel& link, std::span<const ExportedConnection> connections,
                        const ConnectionLender* lender, Deadline deadline) {
  if (Status st = check_limits(connections); !st) return st;
  // Those lent ahead first: their batches carry no fds. An index counts over both.
  std::vector<const ExportedConnection*> order;
  for (const auto& c : connections) order.push_back(&c);
  auto went_ahead = [lender](const ExportedConnection* c) { return lender && c->id != 0 && lender->lent(c->id); };
  const auto by_id = static_cast<std::size_t>(
      std::stable_partition(order.begin(), order.end(), went_ahead) - order.begin());
  for (std::size_t i = 0; i < order.size();) {
    std::vector<int> fds;
    std::size_t end = 0;
    Status st;
    if (i < by_id) {
      ConnectionsById batch;
      end = fill_batch(std::span(order).first(by_id), i, kMaxConnectionsById, batch, fds);
      st = link.send(batch, {}, deadline).with_context("CONNECTIONS_BY_ID");
    } else {
      Connections batch;
      end = fill_batch(std::span(order), i, kMaxConnectionsPerBatch, batch, fds);
      st = link.send(batch, fds, deadline).with_context("CONNECTIONS");
    }
    for (; st && i < end; ++i) {
      const auto index = static_cast<std::uint32_t>(i);
      st = send_data(link, index, ConnectionData::kPending,
                     std::string_view(order[i]->pending).substr(inline_pending(*order[i]).size()), deadline);
      if (st) st = send_data(link, index, ConnectionData::kUnsent, order[i]->unsent, deadline);
    }
    if (!st) return st;
  }
  return link.send(HandoffEnd{static_cast<std::uint32_t>(connections.size())}, {}, deadline)
      .with_context("HANDOFF_END");
}

// ---- the new worker's side ---------------------------------------------------

Status AheadConnections::take(Envelope& m, std::uint32_t max_connections) {
  auto batch = m.as<ConnectionsAhead>();
  if (!batch) return batch.status().with_context("handoff stream");
  if (m.fds_lost)
    return Status::error("the fds of connections lent ahead could not be received: this worker is at its "
                         "open-files limit")
        .with_hint("raise the worker's limit (ulimit -n, LimitNOFILE=)");
  if (batch->ids.size() != m.fds.size())
    return Status::error("CONNECTIONS_AHEAD lists " + std::to_string(batch->ids.size()) + " connections but carried " +
                         std::to_string(m.fds.size()) + " fds");
  if (fds_.size() + m.fds.size() > max_connections)
    return Status::error("more than " + std::to_string(max_connections) + " connections lent ahead");
  std::vector<AheadConnection> arrived;
  for (std::size_t i = 0; i < m.fds.size(); ++i) {
    const std::uint64_t id = batch->ids[i];
    if (id == 0 || fds_.count(id) != 0)
      return Status::error("CONNECTIONS_AHEAD lends connection id " + std::to_string(id) +
                           (id == 0 ? " (ids are nonzero)" : " twice"));
    if (prepare_) {
      fds_.emplace(id, UniqueFd());
      arrived.push_back({id, std::move(m.fds[i])});
    } else {
      fds_.emplace(id, std::move(m.fds[i]));
    }
  }
  if (prepare_ && !arrived.empty()) prepare_(std::move(arrived));
  return Status::ok();
}

Result<UniqueFd> AheadConnections::claim(std::uint64_t id) {
  auto it = fds_.find(id);
  if (it == fds_.end())
    return Status::error("CONNECTIONS_BY_ID names connection id " + std::to_string(id) + ", which was not lent ahead");
  if (!claimed_.insert(id).second)
    return Status::error("CONNECTIONS_BY_ID names connection id " + std::to_string(id) + " twice");
  return std::move(it->second);
}

namespace {

Status check_room(const std::vector<HandedConnection>& out, std::size_t more, std::uint32_t max_connections) {
  if (out.size() + more <= max_connections) return Status::ok();
  return Status::error("more than " + std::to_string(max_connections) + " connections handed over");
}

// Appends a CONNECTION_DATA chunk to the connection it names.
Status take_data(const Envelope& m, std::vector<HandedConnection>& out) {
  auto d = m.as<ConnectionData>();
  if (!d) return d.status().with_context("handoff stream");
  if (d->index >= out.size())
    return Status::error("CONNECTION_DATA for connection " + std::to_string(d->index) + ", but only " +
                         std::to_string(out.size()) + " were handed over so far");
  if (d->kind != ConnectionData::kPending && d->kind != ConnectionData::kUnsent)
    return Status::error("CONNECTION_DATA of unknown kind " + std::to_string(d->kind));
  if (d->bytes.empty()) return Status::error("empty CONNECTION_DATA");
  std::string& into = d->kind == ConnectionData::kPending ? out[d->index].pending : out[d->index].unsent;
  if (into.size() + d->bytes.size() > kMaxConnectionDataBytes)
    return Status::error("a connection's data exceeds the limit of " + std::to_string(kMaxConnectionDataBytes) +
                         " bytes");
  into += d->bytes;
  return Status::ok();
}

// Takes one CONNECTIONS batch's entries and fds.
Status take_batch(Envelope& m, std::uint32_t max_connections, std::vector<HandedConnection>& out) {
  auto batch = m.as<Connections>();
  if (!batch) return batch.status().with_context("handoff stream");
  if (m.fds_lost)
    return Status::error("the connections' fds could not be received: this worker is at its open-files limit")
        .with_hint("raise the worker's limit (ulimit -n, LimitNOFILE=)");
  if (batch->connections.size() != m.fds.size())
    return Status::error("CONNECTIONS lists " + std::to_string(batch->connections.size()) +
                         " connections but carried " + std::to_string(m.fds.size()) + " fds");
  if (Status st = check_room(out, m.fds.size(), max_connections); !st) return st;
  for (std::size_t i = 0; i < m.fds.size(); ++i)
    out.push_back({std::move(m.fds[i]), std::move(batch->connections[i].pending),
                   std::move(batch->connections[i].app), {}});
  return Status::ok();
}

// Takes one CONNECTIONS_BY_ID batch: connections lent ahead, named by id.
Status take_by_id(const Envelope& m, std::uint32_t max_connections, AheadConnections* ahead,
                  std::vector<HandedConnection>& out) {
  auto batch = m.as<ConnectionsById>();
  if (!batch) return batch.status().with_context("handoff stream");
  if (!ahead) return Status::error("CONNECTIONS_BY_ID, but no connections were lent ahead");
  if (!m.fds.empty()) return Status::error("CONNECTIONS_BY_ID carried fds; its connections came ahead");
  if (Status st = check_room(out, batch->connections.size(), max_connections); !st) return st;
  for (auto& c : batch->connections) {
    auto fd = ahead->claim(c.id);
    if (!fd) return fd.status();
    out.push_back({std::move(*fd), std::move(c.info.pending), std::move(c.info.app), {}, c.id});
  }
  return Status::ok();
}

}  // namespace

Result<std::vector<HandedConnection>> receive_connections(Channel& link, std::uint32_t max_connections,
                                                          AheadConnections* ahead, Deadline deadline) {
  std::vector<HandedConnection> out;
  for (;;) {
    auto m = next_on_link(link, deadline, "CONNECTIONS, CONNECTION_DATA or HANDOFF_END");
    if (!m) return m.status();
    Status st;
    switch (m->type) {
      case MessageType::kHandoffEnd: {
        auto end = m->as<HandoffEnd>();
        if (!end) return end.status();
        if (end->connections != out.size())
          return Status::error("HANDOFF_END says " + std::to_string(end->connections) + " connections, received " +
                               std::to_string(out.size()));
        return out;
      }
      case MessageType::kConnectionData: st = take_data(*m, out); break;
      case MessageType::kConnectionsById: st = take_by_id(*m, max_connections, ahead, out); break;
      default: st = take_batch(*m, max_connections, out); break;
    }
    if (!st) return st;
  }
}

}  // namespace baton
