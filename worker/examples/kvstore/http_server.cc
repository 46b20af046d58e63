#include "http_server.h"

#include "http_connection.h"

namespace kvstore {

HttpServer::HttpServer(uv_loop_t* loop, ServerFacts facts) : loop_(loop), facts_(facts), deadline_(loop) {}

HttpServer::~HttpServer() { stop_now(); }

baton::Status HttpServer::listen(baton::UniqueFd fd, const baton::ListenerSpec& spec) {
  if (spec.kind == baton::ListenerKind::kUdp)
    return baton::Status::error("listener \"" + spec.name + "\" is UDP; kvstore serves HTTP over tcp:// or unix://");
  auto l = std::make_unique<Listener>();
  l->server = this;
  l->is_tcp = spec.kind == baton::ListenerKind::kTcp;
  uv_any_handle* h = l->handle.get();
  int rc = l->is_tcp ? uv_tcp_init(loop_, &h->tcp) : uv_pipe_init(loop_, &h->pipe, 0);
  if (rc != 0) return baton::Status::from_errno(-rc, "init " + spec.url());
  l->handle.mark_initialized();
  rc = l->is_tcp ? uv_tcp_open(&h->tcp, fd.get()) : uv_pipe_open(&h->pipe, fd.get());
  if (rc != 0) return baton::Status::from_errno(-rc, "adopt listener " + spec.to_string());
  (void)fd.release();  // the libuv handle owns it now and closes it with the handle
  h->handle.data = l.get();
  rc = uv_listen(&h->stream, SOMAXCONN, &HttpServer::on_connection);
  if (rc != 0) return baton::Status::from_errno(-rc, "listen on " + spec.to_string());
  listeners_.push_back(std::move(l));
  return baton::Status::ok();
}

void HttpServer::on_connection(uv_stream_t* listener, int status) {
  auto* l = static_cast<Listener*>(listener->data);
  if (l == nullptr || status < 0) return;
  HttpConnection::accept(listener, l->is_tcp, *l->server);
}

Response HttpServer::handle(const Request& request) {
  ++facts_.requests;
  facts_.connections = connections_.size();
  facts_.draining = draining_;
  return route(request, store_, facts_);
}

void HttpServer::close_listeners() {
  // Closing our copy of a listening fd stops this process accepting; the
  // socket itself stays open in the supervisor and the next generation, so
  // connections waiting in its queue go to them.
  listeners_.clear();
}

void HttpServer::drain(std::chrono::milliseconds deadline, std::function<void()> on_done) {
  if (draining_) return;
  draining_ = true;
  on_done_ = std::move(on_done);
  close_listeners();
  deadline_.start(deadline, [this] { stop_now(); });
  maybe_done();
}

void HttpServer::stop_now() {
  close_listeners();
  // close() only starts closing; forget() runs later from the close callback.
  std::vector<HttpConnection*> open(connections_.begin(), connections_.end());
  for (auto* c : open) c->close();
}

void HttpServer::forget(HttpConnection* connection) {
  connections_.erase(connection);
  maybe_done();
}

void HttpServer::maybe_done() {
  if (!draining_ || !connections_.empty() || !on_done_) return;
  deadline_.stop();
  auto done = std::move(on_done_);
  on_done_ = nullptr;
  done();
}

}  // namespace kvstore
