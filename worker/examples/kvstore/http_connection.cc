#include "http_connection.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "stream_handle.h"

namespace kvstore {
namespace {

constexpr std::chrono::milliseconds kLinger{2'000};

struct WriteRequest {
  uv_write_t req;
  std::string data;
};

}  // namespace

HttpConnection::HttpConnection(ConnectionOwner& server, bool is_tcp)
    : server_(server), id_(server.next_connection_id()), last_read_ms_(uv_now(server.loop())) {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
  // A TCP or pipe init on a fresh handle cannot fail (no socket is made yet).
  (void)init_stream(server.loop(), &handle_, is_tcp);
  handle_.handle.data = this;
}

HttpConnection* HttpConnection::accept(uv_stream_t* listener, bool is_tcp, ConnectionOwner& server) {
  auto* c = new HttpConnection(server, is_tcp);
  if (uv_accept(listener, c->stream()) != 0) {
    c->close();
    return nullptr;
  }
  // Small responses must leave at once, not wait for Nagle.
  if (is_tcp) uv_tcp_nodelay(&c->handle_.tcp, 1);
  server.adopt(c);
  c->start_reading();
  return c;
}

HttpConnection* HttpConnection::adopt(baton::HandedConnection handed, ConnectionOwner& server) {
  int domain = AF_INET;
  socklen_t len = sizeof domain;
  ::getsockopt(handed.fd.get(), SOL_SOCKET, SO_DOMAIN, &domain, &len);
  const bool is_tcp = domain != AF_UNIX;
  auto* c = new HttpConnection(server, is_tcp);
  if (open_stream(&c->handle_, is_tcp, handed.fd.get()) != 0) {
    c->close();  // the handle owns nothing yet; handed.fd closes itself
    return nullptr;
  }
  (void)handed.fd.release();  // the libuv handle owns it now
  if (is_tcp) uv_tcp_nodelay(&c->handle_.tcp, 1);
  c->take_handed(std::move(handed));
  server.adopt(c);
  return c;
}

void HttpConnection::take_handed(baton::HandedConnection handed) {
  pending_input_ = std::move(handed.pending);
  unsent_output_ = std::move(handed.unsent);
}

int HttpConnection::fd() const {
  uv_os_fd_t fd = -1;
  return closed_ || uv_fileno(&handle_.handle, &fd) != 0 ? -1 : fd;
}

void HttpConnection::start_reading() {
  if (reading_ || closed_) return;
  reading_ = true;
  uv_read_start(
      stream(),
      [](uv_handle_t*, std::size_t, uv_buf_t* buf) {
        // One buffer for every connection: the loop is single-threaded and
        // on_read() is done with the bytes (a partial request is copied
        // into partial_) before libuv reads again. A buffer per connection
        // would cost 16 KiB each: 160 MiB, and as many page faults, for 10,000.
        static char shared[64 * 1024];
        *buf = uv_buf_init(shared, sizeof shared);
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        static_cast<HttpConnection*>(s->data)->on_read(nread, buf);
      });
}

void HttpConnection::pause() {
  if (!reading_ || closed_) return;
  reading_ = false;
  uv_read_stop(stream());
}

void HttpConnection::resume() {
  if (closed_) return;
  // What the client asked for earlier goes out first, then what it asked next.
  if (!unsent_output_.empty()) write(std::exchange(unsent_output_, {}));
  if (!pending_input_.empty()) {
    std::string bytes = std::move(pending_input_);
    pending_input_.clear();
    process(bytes.data(), bytes.size());
  }
  start_reading();
}

baton::Result<baton::ExportedConnection> HttpConnection::export_handoff(baton::UniqueFd& detached) {
  const int fd = this->fd();
  if (fd < 0) return baton::Status::error("the connection is closed");
  if (writes_pending_ == 0) return baton::ExportedConnection{fd, partial_, {}, {}, id_};
  // Queued output moves with the connection. Closing our handle cancels
  // those writes, so this side can send none of them again; the dup keeps
  // the socket open for the successor (or for us, on RESUME).
  baton::ExportedConnection out{-1, partial_, {}, unsent(), id_};
  detached = baton::UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
  if (!detached) return baton::Status::from_errno(errno, "dup a connection with queued output");
  out.fd = detached.get();
  close();
  return out;
}

std::string HttpConnection::unsent() const {
  // libuv writes the queue in order: what is left is its tail. Skip what
  // went out, then copy the rest once (this runs inside the handoff pause).
  const std::size_t left = uv_stream_get_write_queue_size(&handle_.stream);
  std::size_t queued = 0;
  for (const std::string* data : queued_) queued += data->size();
  std::size_t skip = queued - std::min(left, queued);
  std::string out;
  out.reserve(left);
  for (const std::string* data : queued_) {
    const std::size_t from = std::min(skip, data->size());
    skip -= from;
    out.append(*data, from);
  }
  return out;
}

void HttpConnection::on_read(ssize_t nread, const uv_buf_t* buf) {
  if (nread < 0) {
    // EOF: the client sends no more, but may still read what it asked for
    // (a half-close after the request). Errors mean it is gone.
    if (nread != UV_EOF || finishing_ || writes_pending_ == 0) return close();
    peer_done_ = true;
    return finish_after_writes();
  }
  if (nread == 0 || finishing_) return;  // lingering: discard
  last_read_ms_ = uv_now(server_.loop());
  process(buf->base, static_cast<std::size_t>(nread));
}

void HttpConnection::process(const char* data, std::size_t len) {
  std::size_t off = 0;
  while (off < len && !finishing_ && !closed_) {
    std::size_t n = http_parser_execute(&parser_, &settings(), data + off, len - off);
    if (request_complete_) {
      // on_message_complete paused the parser right after this request.
      off += n;
      http_parser_pause(&parser_, 0);
      request_complete_ = false;
      partial_.clear();
      respond(server_.handle(request_), head_request_);
      continue;
    }
    if (body_too_large_) return respond({413, "text/plain", "body larger than 1 MiB\n", {}}, false);  // and close
    if (parser_.http_errno != HPE_OK || n != len - off)
      return respond({400, "text/plain",
                      std::string("bad request: ") + http_errno_description(HTTP_PARSER_ERRNO(&parser_)) + "\n", {}},
                     false);  // and close
    partial_.append(data + off, n);
    off += n;
  }
}

void HttpConnection::respond(const Response& r, bool head_request) {
  // The connection ends after this response if the client asked for it, if
  // the request was bad, or if the server drains.
  bool keep_alive = r.status < 400 || r.status == 404 || r.status == 405;
  keep_alive = keep_alive && http_should_keep_alive(&parser_) && !server_.draining();
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason_phrase(r.status) +
                    "\r\nContent-Type: " + r.content_type +
                    "\r\nContent-Length: " + std::to_string(r.body.size()) +
                    (r.allow.empty() ? "" : "\r\nAllow: " + r.allow) +
                    (keep_alive ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
  if (!head_request) out += r.body;
  write(std::move(out));
  if (!keep_alive) finish_after_writes();  // requests pipelined behind this one are not served
}

void HttpConnection::write(std::string data) {
  auto* w = new WriteRequest{{}, std::move(data)};
  w->req.data = this;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  ++writes_pending_;
  queued_.push_back(&w->data);
  int rc = uv_write(&w->req, stream(), &buf, 1, [](uv_write_t* req, int status) {
    auto* w = reinterpret_cast<WriteRequest*>(req);
    auto* self = static_cast<HttpConnection*>(req->data);
    delete w;
    --self->writes_pending_;
    self->queued_.pop_front();  // callbacks come in write order
    if (status < 0) self->close();
  });
  if (rc != 0) {
    --writes_pending_;
    queued_.pop_back();
    delete w;
    close();
  }
}

void HttpConnection::finish_after_writes() {
  if (finishing_) return;
  finishing_ = true;
  auto* req = new uv_shutdown_t;
  req->data = this;
  // uv_shutdown sends FIN once every queued write is out.
  if (uv_shutdown(req, stream(), [](uv_shutdown_t* req, int status) {
        auto* self = static_cast<HttpConnection*>(req->data);
        delete req;
        if (status < 0 || self->closed_ || self->peer_done_) return self->close();
        self->linger_ = std::make_unique<baton::Timer>(self->server_.loop());
        self->linger_->start(kLinger, [self] { self->close(); });
      }) != 0) {
    delete req;
    close();
  }
}

void HttpConnection::close() {
  if (closed_) return;
  closed_ = true;
  linger_.reset();
  uv_close(&handle_.handle, [](uv_handle_t* h) {
    auto* self = static_cast<HttpConnection*>(h->data);
    self->server_.forget(self);
    delete self;
  });
}

int HttpConnection::on_message_begin(http_parser* p) {
  auto* self = static_cast<HttpConnection*>(p->data);
  self->request_ = Request{};
  self->url_.clear();
  return 0;
}

int HttpConnection::on_url(http_parser* p, const char* at, std::size_t len) {
  auto* self = static_cast<HttpConnection*>(p->data);
  if (self->url_.size() + len > 8192) return 1;  // HPE_CB_url: answered with 400
  self->url_.append(at, len);
  return 0;
}

int HttpConnection::on_body(http_parser* p, const char* at, std::size_t len) {
  auto* self = static_cast<HttpConnection*>(p->data);
  if (self->request_.body.size() + len > kMaxBodyBytes) {
    self->body_too_large_ = true;
    return 1;
  }
  self->request_.body.append(at, len);
  return 0;
}

int HttpConnection::on_message_complete(http_parser* p) {
  auto* self = static_cast<HttpConnection*>(p->data);
  Request& r = self->request_;
  r.method = http_method_str(static_cast<http_method>(p->method));
  http_parser_url u;
  http_parser_url_init(&u);
  if (http_parser_parse_url(self->url_.data(), self->url_.size(), 0, &u) == 0 && (u.field_set & (1 << UF_PATH)))
    r.path = self->url_.substr(u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
  else
    r.path = self->url_;
  self->head_request_ = p->method == HTTP_HEAD;
  // Stop here: process() answers this request and knows exactly where the next one starts.
  self->request_complete_ = true;
  http_parser_pause(p, 1);
  return 0;
}

const http_parser_settings& HttpConnection::settings() {
  static const http_parser_settings s = [] {
    http_parser_settings s;
    http_parser_settings_init(&s);
    s.on_message_begin = &HttpConnection::on_message_begin;
    s.on_url = &HttpConnection::on_url;
    s.on_body = &HttpConnection::on_body;
    s.on_message_complete = &HttpConnection::on_message_complete;
    return s;
  }();
  return s;
}

}  // namespace kvstore
