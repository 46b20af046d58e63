#include "stream_server.h"

#include <spdlog/spdlog.h>

namespace baton {
namespace {

constexpr int kBacklog = 64;

int pipe_init(uv_loop_t* loop, uv_pipe_t* p) { return uv_pipe_init(loop, p, 0); }
int pipe_open(uv_pipe_t* p, int fd) { return uv_pipe_open(p, fd); }
int tcp_open(uv_tcp_t* t, int fd) { return uv_tcp_open(t, fd); }

// A libuv handle of type T that owns `fd`.
template <class T>
Result<std::unique_ptr<UvHandle<T>>> handle_for(uv_loop_t* loop, void* owner, UniqueFd fd,
                                                int (*init)(uv_loop_t*, T*), int (*open)(T*, int)) {
  auto h = std::make_unique<UvHandle<T>>();
  if (Status st = h->init(loop, init, owner); !st) return st;
  if (int rc = open(h->get(), fd.get()); rc != 0) return Status::from_errno(-rc, "open listening socket");
  (void)fd.release();  // the handle owns it now
  return h;
}

}  // namespace

StreamServer::StreamServer(uv_loop_t* loop, BoundListener socket, Limits limits, std::string what)
    : loop_(loop), socket_(std::move(socket)), limits_(limits), what_(std::move(what)) {}

uv_stream_t* StreamServer::stream() const {
  return std::visit([](const auto& h) { return reinterpret_cast<uv_stream_t*>(h->get()); }, handle_);
}

Status StreamServer::listen(StreamConnection::Events& events, std::function<void(StreamConnection&)> accepted) {
  events_ = &events;
  accepted_ = std::move(accepted);
  if (socket_.spec().kind == ListenerKind::kUnix) {
    auto h = handle_for<uv_pipe_t>(loop_, this, socket_.take_fd(), pipe_init, pipe_open);
    if (!h) return h.status().with_context(what_);
    handle_ = std::move(h.value());
  } else {
    auto h = handle_for<uv_tcp_t>(loop_, this, socket_.take_fd(), uv_tcp_init, tcp_open);
    if (!h) return h.status().with_context(what_);
    handle_ = std::move(h.value());
  }
  const int rc = uv_listen(stream(), kBacklog, [](uv_stream_t* s, int status) {
    if (auto* self = static_cast<StreamServer*>(s->data); self && status == 0) self->accept_one();
  });
  if (rc != 0) return Status::from_errno(-rc, "listen on " + what_);
  return Status::ok();
}

void StreamServer::accept_one() {
  auto c = StreamConnection::accept(stream(), *events_, limits_.max_request, limits_.deadline);
  if (!c) return spdlog::warn("{}: {}", what_, c.status().message());
  if (connections_.size() >= limits_.max_clients) {
    spdlog::warn("{}: more than {} clients at once; closing the newest", what_, limits_.max_clients);
    return;  // `c` closes as it goes out of scope
  }
  StreamConnection& connection = *connections_.emplace_back(std::move(c.value()));
  accepted_(connection);
}

void StreamServer::forget(StreamConnection& c) {
  connections_.remove_if([&](const auto& owned) { return owned.get() == &c; });
}

}  // namespace baton
