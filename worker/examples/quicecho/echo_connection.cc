#include "echo_connection.h"

#include <cstring>

#include "quic_common.h"

namespace quicecho {

EchoConnection::EchoConnection(uv_loop_t* loop, ConnectionHost& host, const sockaddr_storage& local,
                               socklen_t local_length)
    : loop_(loop), host_(host), local_(local), local_length_(local_length) {
  ref_.get_conn = conn_of;
  ref_.user_data = this;
}

EchoConnection::~EchoConnection() {
  if (conn_) ngtcp2_conn_del(conn_);
  if (tls_) gnutls_deinit(tls_);
}

ngtcp2_conn* EchoConnection::conn_of(ngtcp2_crypto_conn_ref* ref) {
  return static_cast<EchoConnection*>(ref->user_data)->conn_;
}

ngtcp2_path EchoConnection::path(const sockaddr* remote, socklen_t remote_length) {
  return ngtcp2_path{{reinterpret_cast<sockaddr*>(&local_), local_length_},
                     {const_cast<sockaddr*>(remote), remote_length}, nullptr};
}

std::string EchoConnection::accept(const ngtcp2_pkt_hd& hd, const sockaddr* remote, socklen_t remote_length,
                                   gnutls_certificate_credentials_t credentials) {
  std::memcpy(&remote_, remote, remote_length);
  remote_length_ = remote_length;
  if (auto error = make_tls_session(&tls_, true, credentials, &ref_); !error.empty()) return error;
  ngtcp2_callbacks callbacks{};
  set_crypto_callbacks(callbacks, true);
  callbacks.recv_stream_data = on_stream_data;
  callbacks.stream_close = on_stream_close;
  callbacks.get_new_connection_id = on_new_cid;
  callbacks.remove_connection_id = on_remove_cid;
  ngtcp2_settings settings;
  ngtcp2_transport_params params;
  default_settings(&settings, &params);
  params.original_dcid = hd.dcid;
  ngtcp2_cid scid;
  host_.issue_cid(&scid, kCidLength, this);
  const ngtcp2_path p = path(remote, remote_length);
  int rv = ngtcp2_conn_server_new(&conn_, &hd.scid, &scid, &p, hd.version, &callbacks, &settings, &params, nullptr,
                                  this);
  if (rv != 0) return std::string("ngtcp2_conn_server_new: ") + ngtcp2_strerror(rv);
  ngtcp2_conn_set_tls_native_handle(conn_, tls_);
  if (auto st = timer_.init(loop_, uv_timer_init, this); !st) return st.message();
  return "";
}

bool EchoConnection::read(const sockaddr* remote, socklen_t remote_length, std::span<const std::uint8_t> datagram) {
  const ngtcp2_path p = path(remote, remote_length);
  ngtcp2_pkt_info info{};
  // Any error ends it here: the client closed (DRAINING), or the packet cannot be ours.
  if (ngtcp2_conn_read_pkt(conn_, &p, &info, datagram.data(), datagram.size(), now_ns()) != 0) return false;
  std::memcpy(&remote_, remote, remote_length);
  remote_length_ = remote_length;
  return write();
}

bool EchoConnection::write() {
  const PacketWriter writer{
      .next = [&](const std::set<std::int64_t>& blocked) -> std::optional<Outgoing> {
        for (auto& [id, s] : streams_)
          if (s.finished && !s.answered && !blocked.count(id))
            return Outgoing{id, {reinterpret_cast<const std::uint8_t*>(s.data.data()) + s.sent, s.data.size() - s.sent}};
        return std::nullopt;
      },
      // Looked up again: ngtcp2's callbacks may have closed the stream meanwhile.
      .wrote = [&](std::int64_t id, std::size_t bytes) {
        if (auto it = streams_.find(id); it != streams_.end() && (it->second.sent += bytes) == it->second.data.size())
          it->second.answered = true;
      },
      .send = [&](const std::uint8_t* packet, std::size_t length) {
        host_.send(reinterpret_cast<const sockaddr*>(&remote_), packet, length);
      },
  };
  if (write_packets(conn_, writer) != 0) return false;
  arm_timer();
  return true;
}

void EchoConnection::arm_timer() {
  const ngtcp2_tstamp expiry = ngtcp2_conn_get_expiry(conn_), now = now_ns();
  const std::uint64_t ms = expiry <= now ? 0 : (expiry - now + NGTCP2_MILLISECONDS - 1) / NGTCP2_MILLISECONDS;
  uv_timer_start(timer_.get(), [](uv_timer_t* t) {
    if (auto* self = static_cast<EchoConnection*>(t->data)) self->expired();
  }, ms, 0);
}

void EchoConnection::expired() {
  if (ngtcp2_conn_handle_expiry(conn_, now_ns()) != 0 || !write()) host_.ended(this);  // idle, or lost
}

int EchoConnection::on_stream_data(ngtcp2_conn* conn, std::uint32_t flags, std::int64_t id, std::uint64_t,
                                   const std::uint8_t* data, std::size_t length, void* self, void*) {
  auto* c = static_cast<EchoConnection*>(self);
  Stream& s = c->streams_[id];
  s.data.append(reinterpret_cast<const char*>(data), length);
  ngtcp2_conn_extend_max_stream_offset(conn, id, length);
  ngtcp2_conn_extend_max_offset(conn, length);
  if ((flags & NGTCP2_STREAM_DATA_FLAG_FIN) && !s.finished) {
    s.finished = true;
    s.data += " " + c->host_.who();
  }
  return 0;
}

int EchoConnection::on_stream_close(ngtcp2_conn*, std::uint32_t, std::int64_t id, std::uint64_t, void* self, void*) {
  static_cast<EchoConnection*>(self)->streams_.erase(id);
  return 0;
}

int EchoConnection::on_new_cid(ngtcp2_conn*, ngtcp2_cid* cid, std::uint8_t* token, std::size_t length, void* self) {
  auto* c = static_cast<EchoConnection*>(self);
  c->host_.issue_cid(cid, length, c);
  random_bytes(token, NGTCP2_STATELESS_RESET_TOKENLEN);
  return 0;
}

int EchoConnection::on_remove_cid(ngtcp2_conn*, const ngtcp2_cid* cid, void* self) {
  static_cast<EchoConnection*>(self)->host_.retire_cid(*cid);
  return 0;
}

}  // namespace quicecho
