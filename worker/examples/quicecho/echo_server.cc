#include "echo_server.h"

#include <sys/socket.h>

#include "quic_common.h"

namespace quicecho {

EchoServer::EchoServer(uv_loop_t* loop, baton::Worker& worker, std::string listener,
                       gnutls_certificate_credentials_t credentials)
    : loop_(loop),
      worker_(worker),
      listener_(std::move(listener)),
      credentials_(credentials),
      who_(std::to_string(worker.generation()) + "." + std::to_string(worker.index())) {}

EchoServer::~EchoServer() { close(); }

baton::Status EchoServer::open(baton::UniqueFd fd) {
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local_), &local_length_) != 0)
    return baton::Status::from_errno(errno, "getsockname on listener \"" + listener_ + "\"");
  if (auto st = socket_.init(loop_, uv_udp_init, this); !st) return st;
  if (int rc = uv_udp_open(socket_.get(), fd.get()); rc != 0)
    return baton::Status::from_errno(-rc, "uv_udp_open on listener \"" + listener_ + "\"");
  (void)fd.release();  // libuv owns it now
  open_ = true;
  return baton::Status::ok();
}

void EchoServer::start_reading() {
  uv_udp_recv_start(
      socket_.get(),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        static char buffer[65536];  // one datagram at a time, on the loop's thread
        *buf = uv_buf_init(buffer, sizeof buffer);
      },
      [](uv_udp_t* u, ssize_t n, const uv_buf_t* buf, const sockaddr* from, unsigned) {
        auto* self = static_cast<EchoServer*>(u->data);
        if (self == nullptr || n <= 0 || from == nullptr) return;
        std::span<const std::uint8_t> datagram(reinterpret_cast<const std::uint8_t*>(buf->base),
                                               static_cast<std::size_t>(n));
        if (self->worker_.steer(self->listener_, from, datagram)) return;  // another worker's connection
        self->serve(from, datagram);
      });
}

std::uint32_t EchoServer::owner(std::span<const std::uint8_t> datagram) const {
  ngtcp2_cid dcid{};
  const std::uint32_t tag = tag_in(datagram, &dcid);
  return by_cid_.count(key(dcid)) != 0 ? worker_.flow_tag() : tag;
}

void EchoServer::serve(const sockaddr* from, std::span<const std::uint8_t> datagram) {
  const socklen_t from_length = from->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  ngtcp2_cid dcid{};
  (void)tag_in(datagram, &dcid);
  auto it = by_cid_.find(key(dcid));
  if (it == by_cid_.end()) return accept(from, from_length, datagram);
  EchoConnection* c = it->second;
  if (!c->read(from, from_length, datagram)) ended(c);
}

// A client's first Initial: a new connection. Anything else for an id we do
// not know is dropped (a connection that ended here, or a stray).
void EchoServer::accept(const sockaddr* from, socklen_t from_length, std::span<const std::uint8_t> datagram) {
  ngtcp2_pkt_hd hd;
  if (done_ || ngtcp2_accept(&hd, datagram.data(), datagram.size()) != 0) return;
  auto c = std::make_unique<EchoConnection>(loop_, *this, local_, local_length_);
  if (auto error = c->accept(hd, from, from_length, credentials_); !error.empty()) return;
  EchoConnection* raw = c.get();
  connections_.emplace(raw, std::move(c));
  by_cid_[key(hd.dcid)] = raw;  // the client's first choice, until it learns ours
  if (!raw->read(from, from_length, datagram)) ended(raw);
}

void EchoServer::send(const sockaddr* to, const std::uint8_t* packet, std::size_t length) {
  if (!open_) return;
  uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(const_cast<std::uint8_t*>(packet)), static_cast<unsigned>(length));
  (void)uv_udp_try_send(socket_.get(), &buf, 1, to);  // a full socket drops it; QUIC sends again
}

void EchoServer::issue_cid(ngtcp2_cid* cid, std::size_t length, void* connection) {
  make_cid(cid, worker_.flow_tag(), length);
  by_cid_[key(*cid)] = static_cast<EchoConnection*>(connection);
}

void EchoServer::retire_cid(const ngtcp2_cid& cid) { by_cid_.erase(key(cid)); }

void EchoServer::ended(void* connection) {
  auto* c = static_cast<EchoConnection*>(connection);
  std::erase_if(by_cid_, [c](const auto& entry) { return entry.second == c; });
  connections_.erase(c);
  finish_if_done();
}

void EchoServer::drain(std::chrono::milliseconds deadline, std::function<void()> done) {
  if (open_) uv_udp_recv_stop(socket_.get());
  done_ = std::move(done);
  if (deadline_.init(loop_, uv_timer_init, this))
    uv_timer_start(deadline_.get(), [](uv_timer_t* t) {
      auto* self = static_cast<EchoServer*>(t->data);
      if (self == nullptr) return;
      self->by_cid_.clear();  // out of time: these connections end with us
      self->connections_.clear();
      self->finish_if_done();
    }, static_cast<std::uint64_t>(deadline.count()), 0);
  finish_if_done();
}

void EchoServer::finish_if_done() {
  if (!done_ || !connections_.empty()) return;
  close();
  std::exchange(done_, nullptr)();
}

void EchoServer::close() {
  open_ = false;
  socket_.close();
  deadline_.close();
}

}  // namespace quicecho
