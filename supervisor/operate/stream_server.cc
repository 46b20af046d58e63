#include "stream_server.h"

#include <spdlog/spdlog.h>

#include "duration.h"

namespace baton {

StreamServer::StreamServer(uv_loop_t* loop, BoundListener socket, Limits limits, std::string what)
    : loop_(loop),
      socket_(std::move(socket)),
      limits_(limits),
      what_(std::move(what)),
      accept_failed_(loop, what_ + ": accept failed"),
      evicted_(loop, what_ + ": idle clients closed to make room"),
      refused_(loop, what_ + ": clients refused") {}

uv_stream_t* StreamServer::stream() const { return handle_.stream(); }

Status StreamServer::listen(StreamConnection::Events& events, std::function<void(StreamConnection&)> accepted) {
  events_ = &events;
  accepted_ = std::move(accepted);
  const auto kind = socket_.spec().kind == ListenerKind::kUnix ? StreamHandle::Kind::kUnix : StreamHandle::Kind::kTcp;
  auto h = StreamHandle::make(loop_, kind, this);
  if (!h) return h.status().with_context(what_);
  handle_ = std::move(h.value());
  if (Status st = handle_.open(socket_.take_fd()); !st) return st.with_context(what_);
  const int rc = uv_listen(stream(), kListenBacklog, [](uv_stream_t* s, int status) {
    if (auto* self = static_cast<StreamServer*>(s->data); self && status == 0) self->accept_one();
  });
  if (rc != 0) return Status::from_errno(-rc, "listen on " + what_);
  return Status::ok();
}

void StreamServer::accept_one() {
  auto c = StreamConnection::accept(stream(), *events_, limits_.max_request, limits_.deadline);
  if (!c) return accept_failed_.log(what_ + ": " + c.status().message());
  if (connections_.size() >= limits_.max_clients && !make_room()) {
    refused_.log(what_ + ": " + std::to_string(limits_.max_clients) +
                 " clients at once, each answered and waiting (for an upgrade or a stop); refused a new one");
    return;  // `c` closes as it goes out of scope
  }
  StreamConnection& connection = *connections_.emplace_back(std::move(c.value()));
  accepted_(connection);
  connection.read_now();  // may close it: not used after this
}

// Closes the oldest client still waiting for its request that sent nothing
// baton has yet to read (a probe whose request just arrived is kept); false
// if there is none.
bool StreamServer::make_room() {
  for (const auto& c : connections_) {
    if (!c->waiting_for_request() || c->has_unread_bytes()) continue;
    const auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                            c->accepted_at());
    evicted_.log(what_ + ": " + std::to_string(limits_.max_clients) +
                 " clients at once; closed the oldest idle one (connected " + format_duration(idle) +
                 " ago) to make room");
    c->close();  // on_closed -> forget(): `c` is gone
    return true;
  }
  return false;
}

void StreamServer::forget(StreamConnection& c) {
  connections_.remove_if([&](const auto& owned) { return owned.get() == &c; });
}

int StreamServer::fd() const {
  uv_os_fd_t fd = -1;
  if (handle_.stream() == nullptr || uv_fileno(reinterpret_cast<uv_handle_t*>(handle_.stream()), &fd) != 0) return -1;
  return fd;
}

}  // namespace baton
