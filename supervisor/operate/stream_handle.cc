#include "stream_handle.h"

namespace baton {
namespace {

template <class T, class Init>
Result<std::unique_ptr<UvHandle<T>>> init_handle(uv_loop_t* loop, void* owner, Init init) {
  auto h = std::make_unique<UvHandle<T>>();
  if (Status st = h->init(loop, init, owner); !st) return st;
  return h;
}

}  // namespace

Result<StreamHandle> StreamHandle::make(uv_loop_t* loop, Kind kind, void* owner) {
  StreamHandle out;
  if (kind == Kind::kUnix) {
    auto h = init_handle<uv_pipe_t>(loop, owner, [](uv_loop_t* l, uv_pipe_t* p) { return uv_pipe_init(l, p, 0); });
    if (!h) return h.status();
    out.handle_ = std::move(h.value());
  } else {
    auto h = init_handle<uv_tcp_t>(loop, owner, uv_tcp_init);
    if (!h) return h.status();
    out.handle_ = std::move(h.value());
  }
  return out;
}

Result<StreamHandle> StreamHandle::accept(uv_stream_t* server, void* owner) {
  auto h = make(server->loop, server->type == UV_NAMED_PIPE ? Kind::kUnix : Kind::kTcp, owner);
  if (!h) return h.status();
  if (int rc = uv_accept(server, h->stream()); rc != 0) return Status::from_errno(-rc, "accept");
  return h;
}

Status StreamHandle::open(UniqueFd fd) {
  const int rc = std::visit(
      [&](const auto& h) {
        if constexpr (std::is_same_v<std::decay_t<decltype(*h)>, UvHandle<uv_pipe_t>>) return uv_pipe_open(h->get(), fd.get());
        else return uv_tcp_open(h->get(), fd.get());
      },
      handle_);
  if (rc != 0) return Status::from_errno(-rc, "open listening socket");
  (void)fd.release();  // the handle owns it now
  return Status::ok();
}

uv_stream_t* StreamHandle::stream() const {
  return std::visit([](const auto& h) { return h ? reinterpret_cast<uv_stream_t*>(h->get()) : nullptr; }, handle_);
}

void StreamHandle::close() {
  std::visit([](auto& h) {
    if (h) h->close();
  }, handle_);
}

}  // namespace baton
