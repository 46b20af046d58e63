#include "stream_connection.h"

#include "duration.h"

namespace baton {
namespace {

// One uv_write in flight: the request and the bytes it points at.
struct WriteRequest {
  uv_write_t req{};
  std::string data;
  StreamConnection* closes = nullptr;  // closes this connection once written
};

}  // namespace

StreamConnection::StreamConnection(uv_loop_t* loop, Events& events, std::size_t max_request)
    : events_(events), max_request_(max_request), deadline_(loop) {}

Result<std::unique_ptr<StreamConnection>> StreamConnection::accept(uv_stream_t* server, Events& events,
                                                                   std::size_t max_request,
                                                                   std::chrono::milliseconds deadline) {
  std::unique_ptr<StreamConnection> c(new StreamConnection(server->loop, events, max_request));
  auto h = StreamHandle::accept(server, c.get());
  if (!h) return h.status();
  c->handle_ = std::move(h.value());
  StreamConnection* self = c.get();
  c->deadline_.start(deadline, [self, deadline] {
    self->reject("no complete request within " + format_duration(deadline));
  });
  uv_read_start(
      c->stream(),
      [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
        auto* me = static_cast<StreamConnection*>(h->data);
        *buf = uv_buf_init(me->chunk_, sizeof me->chunk_);
      },
      &StreamConnection::on_read);
  return c;
}

uv_stream_t* StreamConnection::stream() const { return handle_.stream(); }

int StreamConnection::fd() const {
  uv_os_fd_t fd = -1;
  uv_fileno(reinterpret_cast<uv_handle_t*>(stream()), &fd);
  return fd;
}

void StreamConnection::on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* self = static_cast<StreamConnection*>(s->data);
  if (self == nullptr || n == 0) return;
  if (n < 0) return self->close();  // EOF or reset: the client is gone
  if (self->request_.size() + static_cast<std::size_t>(n) > self->max_request_)
    return self->reject("request longer than " + std::to_string(self->max_request_) + " bytes");
  self->request_.append(buf->base, static_cast<std::size_t>(n));
  self->events_.on_request_bytes(*self, self->request_);
}

void StreamConnection::request_complete() {
  deadline_.stop();
  // Keep reading, only to notice when the client hangs up.
  request_.clear();
  max_request_ = 0;
}

void StreamConnection::reject(const std::string& why) {
  deadline_.stop();
  uv_read_stop(stream());
  events_.on_bad_request(*this, why);
}

void StreamConnection::write(std::string text, bool then_close) {
  if (closed_) return;
  auto* w = new WriteRequest{.data = std::move(text), .closes = then_close ? this : nullptr};
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  w->req.data = w;
  const int rc = uv_write(&w->req, stream(), &buf, 1, [](uv_write_t* req, int status) {
    std::unique_ptr<WriteRequest> done(static_cast<WriteRequest*>(req->data));
    // ECANCELED: the connection closed first and `closes` is gone.
    if (status != UV_ECANCELED && done->closes) done->closes->close();
  });
  if (rc != 0) {
    delete w;
    close();
  }
}

void StreamConnection::close() {
  if (closed_) return;
  closed_ = true;
  deadline_.stop();
  handle_.close();
  events_.on_closed(*this);
}

}  // namespace baton
