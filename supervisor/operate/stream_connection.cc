#include "stream_connection.h"

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>

#include "duration.h"

namespace baton {
namespace {

// How long a client's request bytes wait between reads after its first.
constexpr std::chrono::milliseconds kReadPause{20};

// One uv_write in flight: the request and the bytes it points at.
struct WriteRequest {
  uv_write_t req{};
  std::string data;
  StreamConnection* closes = nullptr;  // closes this connection once written
};

}  // namespace

StreamConnection::StreamConnection(uv_loop_t* loop, Events& events, std::size_t max_request)
    : events_(events), max_request_(max_request), deadline_(loop), read_pause_(loop) {}

Result<std::unique_ptr<StreamConnection>> StreamConnection::accept(uv_stream_t* server, Events& events,
                                                                   std::size_t max_request,
                                                                   std::chrono::milliseconds deadline) {
  std::unique_ptr<StreamConnection> c(new StreamConnection(server->loop, events, max_request));
  auto h = StreamHandle::accept(server, c.get());
  if (!h) return h.status();
  c->handle_ = std::move(h.value());
  StreamConnection* self = c.get();
  c->deadline_.start(deadline, [self, deadline] {
    self->reject(Events::Bad::kTooSlow, "no complete request within " + format_duration(deadline));
  });
  c->start_reading();
  return c;
}

void StreamConnection::start_reading() {
  uv_read_start(
      stream(),
      [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
        auto* me = static_cast<StreamConnection*>(h->data);
        *buf = uv_buf_init(me->chunk_, sizeof me->chunk_);
      },
      &StreamConnection::on_read);
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
  self->received({buf->base, static_cast<std::size_t>(n)});
}

void StreamConnection::read_now() {
  if (!waiting_for_request()) return;
  const ssize_t n = ::recv(fd(), chunk_, sizeof chunk_, MSG_DONTWAIT);
  if (n > 0) return received({chunk_, static_cast<std::size_t>(n)});
  if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) close();
}

bool StreamConnection::has_unread_bytes() const {
  int pending = 0;
  return ::ioctl(fd(), FIONREAD, &pending) == 0 && pending > 0;
}

void StreamConnection::received(std::string_view bytes) {
  // After the request: only reading to notice when the client hangs up.
  if (complete_) return;
  if (request_.size() + bytes.size() > max_request_)
    return reject(Events::Bad::kTooLong, "request longer than " + std::to_string(max_request_) + " bytes");
  request_.append(bytes);
  // A request comes in one read or two. Past the first, reads are paced, so
  // that a client sending a byte at a time costs baton one read per pause,
  // not one per byte: what it sends meanwhile waits in the kernel.
  if (reads_++ > 0) {
    uv_read_stop(stream());
    read_pause_.start(kReadPause, [this] { start_reading(); });
  }
  events_.on_request_bytes(*this, request_, bytes.size());  // last: it may close and destroy this
}

void StreamConnection::request_complete() {
  deadline_.stop();
  complete_ = true;
  request_.clear();
  request_.shrink_to_fit();
}

void StreamConnection::reject(Events::Bad kind, const std::string& why) {
  deadline_.stop();
  complete_ = true;
  read_pause_.stop();
  uv_read_stop(stream());
  events_.on_bad_request(*this, kind, why);
}

void StreamConnection::write(std::string text, bool then_close) {
  if (closed_) return;
  // An answer ends the request, whatever came before it (a refusal at accept).
  deadline_.stop();
  complete_ = true;
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
  read_pause_.stop();
  handle_.close();
  events_.on_closed(*this);
}

}  // namespace baton
