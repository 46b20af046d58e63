#include "http_server.h"

#include <fcntl.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <cerrno>
#include <cstdio>

#include "http_connection.h"
#include "stream_handle.h"

namespace kvstore {

HttpServer::HttpServer(uv_loop_t* loop, ServerFacts facts) : loop_(loop), facts_(facts), deadline_(loop) {}

HttpServer::~HttpServer() { stop_now(); }

baton::Status HttpServer::listen(baton::UniqueFd fd, const baton::ListenerSpec& spec) {
  if (spec.kind == baton::ListenerKind::kUdp)
    return baton::Status::error("listener \"" + spec.name + "\" is UDP; kvstore serves HTTP over tcp:// or unix://");
  auto l = std::make_unique<Listener>();
  l->spec = spec;
  l->spare = std::move(fd);
  l->server = this;
  listeners_.push_back(std::move(l));
  return baton::Status::ok();
}

namespace {

// Listens on a copy of `spare`, so that stop_accepting() can close it and a
// later start_accepting() listen again.
baton::Status listen_on(uv_any_handle* h, bool tcp, const baton::UniqueFd& spare) {
  int fd = ::fcntl(spare.get(), F_DUPFD_CLOEXEC, 3);
  if (fd < 0) return baton::Status::from_errno(errno, "dup listener");
  if (int rc = open_stream(h, tcp, fd); rc != 0) {
    ::close(fd);
    return baton::Status::from_errno(-rc, "open listener");
  }
  if (int rc = uv_listen(&h->stream, SOMAXCONN, &HttpServer::on_connection); rc != 0)
    return baton::Status::from_errno(-rc, "listen");
  return baton::Status::ok();
}

}  // namespace

void HttpServer::start_accepting() {
  for (auto& l : listeners_) {
    if (l->handle) continue;
    const bool tcp = l->spec.kind == baton::ListenerKind::kTcp;
    auto handle = std::make_unique<baton::UvHandle<uv_any_handle>>();
    auto init = [tcp](uv_loop_t* loop, uv_any_handle* h) { return init_stream(loop, h, tcp); };
    baton::Status st = handle->init(loop_, init, l.get());
    if (st) st = listen_on(handle->get(), tcp, l->spare);
    if (!st) {
      std::fprintf(stderr, "kvstore: cannot accept on %s: %s\n", l->spec.to_string().c_str(), st.message().c_str());
      continue;
    }
    l->handle = std::move(handle);
  }
}

void HttpServer::stop_accepting() {
  // Closing our copy of a listening fd stops this process accepting; the
  // socket itself stays open in the supervisor and the next generation, so
  // connections waiting in its queue go to them.
  for (auto& l : listeners_) l->handle.reset();
}

void HttpServer::close_listeners() {
  stop_accepting();
  for (auto& l : listeners_) l->spare.reset();
}

void HttpServer::on_connection(uv_stream_t* listener, int status) {
  auto* l = static_cast<Listener*>(listener->data);
  if (l == nullptr || status < 0) return;
  HttpConnection::accept(listener, l->spec.kind == baton::ListenerKind::kTcp, *l->server);
}

Response HttpServer::handle(const Request& request) {
  ++facts_.requests;
  facts_.connections = connections_.size();
  facts_.draining = draining_;
  const bool write = request.method == "PUT" || request.method == "DELETE";
  facts_.writes = state_.writes + (write ? 1 : 0);
  if (request.path == "/debug/leak" && facts_.debug_leak && request.method == "PUT") return leak(request.body);
  Response r = route(request, state_.store, facts_);
  if (write && r.status == 200) {
    ++state_.writes;
    state_.changed.touch(kv_key(request.path));
  }
  return r;
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
  stop_accepting();
  // close() only starts closing; forget() runs later from the close callback.
  std::vector<HttpConnection*> open(connections_.begin(), connections_.end());
  for (auto* c : open) c->close();
}

void HttpServer::forget(HttpConnection* connection) {
  connections_.erase(connection);
  if (count_told_) count_told_(connections_.size());
  maybe_done();
}

void HttpServer::maybe_done() {
  if (!draining_ || !connections_.empty() || !on_done_) return;
  deadline_.stop();
  auto done = std::move(on_done_);
  on_done_ = nullptr;
  done();
}

// ---- handoff ----------------------------------------------------------------

void HttpServer::quiesce(std::function<void()> quiesced) {
  // Nobody waits for a slow reader: responses still queued move with their
  // connection (export_connections), or finish here (closing ones).
  stop_accepting();
  for (auto* c : connections_) c->pause();
  quiesced();
}

std::vector<baton::ExportedConnection> HttpServer::export_connections() {
  std::vector<baton::ExportedConnection> out;
  // export_handoff() may close a connection; forget() comes later, from its close callback.
  std::vector<HttpConnection*> open(connections_.begin(), connections_.end());
  // Those whose clients sent something in the last second go first: the
  // successor resumes in this order, so they wait least for it.
  const std::uint64_t now = uv_now(loop_);
  std::partition(open.begin(), open.end(), [now](HttpConnection* c) { return now - c->last_read_ms() < 1000; });
  for (auto* c : open) {
    if (!c->exportable()) continue;
    baton::UniqueFd detached;
    auto handed = c->export_handoff(detached);
    if (!handed) continue;
    if (detached) detached_.push_back({std::move(detached), handed->pending, handed->app, handed->unsent});
    out.push_back(std::move(handed.value()));
  }
  return out;
}

std::vector<baton::OpenConnection> HttpServer::open_connections() const {
  std::vector<baton::OpenConnection> open;
  open.reserve(connections_.size());
  for (auto* c : connections_)
    if (c->exportable()) open.push_back({c->id(), c->fd()});
  return open;
}

void HttpServer::resume() {
  for (auto* c : connections_) c->resume();
  // Connections that detached to hand over their queued output come back with it.
  for (auto& d : std::exchange(detached_, {}))
    if (auto* c = HttpConnection::adopt(std::move(d), *this)) c->resume();
  start_accepting();
}

void HttpServer::abandon() {
  close_listeners();
  park();
}

void HttpServer::park() {
  detached_.clear();
  // Closing connections finish writing their last response, then close, so
  // no response is cut at COMMIT; every other one belongs to the successor now.
  std::vector<HttpConnection*> open(connections_.begin(), connections_.end());
  for (auto* c : open)
    if (!c->finishing()) c->close();
}

void HttpServer::prepare_connections(std::vector<baton::AheadConnection> connections) {
  for (auto& ahead : connections) {
    const std::uint64_t id = ahead.id;
    if (auto* c = HttpConnection::adopt({std::move(ahead.fd)}, *this)) prepared_.emplace(id, c);
  }
}

void HttpServer::adopt_connections(std::vector<baton::HandedConnection> connections) {
  for (auto& handed : connections) {
    HttpConnection* c = nullptr;
    if (handed.fd) {
      c = HttpConnection::adopt(std::move(handed), *this);
    } else if (auto it = prepared_.find(handed.id); it != prepared_.end()) {
      c = it->second;
      c->take_handed(std::move(handed));
      prepared_.erase(it);
    }
    if (c) to_resume_.push_back(c);
  }
  // The old worker closed these meanwhile, or keeps them to finish: not ours.
  for (auto& [id, c] : std::exchange(prepared_, {})) c->close();
}

void HttpServer::start_serving() {
  resume_next_batch();
  start_accepting();
  if (resumed_ == to_resume_.size()) return;
  resuming_ = std::make_unique<baton::UvHandle<uv_idle_t>>();
  (void)resuming_->init(loop_, uv_idle_init, this);  // uv_idle_init cannot fail
  uv_idle_start(resuming_->get(), [](uv_idle_t* idle) { static_cast<HttpServer*>(idle->data)->resume_next_batch(); });
}

// --debug-leak: keeps `mib` MiB of this process's own memory, written to so
// that it is resident and private: a leak, not state (it never moves).
Response HttpServer::leak(const std::string& mib) {
  const long n = std::strtol(mib.c_str(), nullptr, 10);
  if (n <= 0 || n > 4096) return Response{400, "text/plain", "give a number of MiB, 1 to 4096\n", ""};
  auto block = std::make_unique<char[]>(static_cast<std::size_t>(n) << 20);
  std::memset(block.get(), 1, static_cast<std::size_t>(n) << 20);
  leaked_.push_back(std::move(block));
  leaked_mib_ += n;
  return Response{200, "text/plain", "leaked " + std::to_string(leaked_mib_) + " MiB in all\n", ""};
}

void HttpServer::serve_inherited(std::vector<baton::InheritedConnection> connections) {
  for (auto& inherited : connections) {
    if (inherited.mid_request) continue;  // its UniqueFd closes it: a FIN, and the client may retry
    if (auto* c = HttpConnection::adopt({std::move(inherited.fd)}, *this)) c->resume();
  }
}

// libuv registers each resumed connection with epoll (about 0.6 us each) in
// its next poll, before it reads any: 10,000 at once would keep the busiest
// client waiting for all the idle ones.
void HttpServer::resume_next_batch() {
  constexpr std::size_t kBatch = 512;
  const std::size_t end = std::min(to_resume_.size(), resumed_ + kBatch);
  for (; resumed_ < end; ++resumed_)
    if (connections_.count(to_resume_[resumed_]) != 0) to_resume_[resumed_]->resume();  // not closed since
  if (resumed_ < to_resume_.size()) return;
  to_resume_.clear();
  resumed_ = 0;
  resuming_.reset();
}

}  // namespace kvstore
