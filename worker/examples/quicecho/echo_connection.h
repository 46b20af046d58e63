// EchoConnection: one QUIC connection of quicecho's, server side. Every
// stream the client opens and finishes is answered on itself with what it
// sent, then a space and the answering worker ("<gen>.<index>").
#pragma once

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <sys/socket.h>
#include <uv.h>

#include <cstdint>
#include <map>
#include <span>
#include <string>

#include "baton/uv_handle.h"

namespace quicecho {

// What a connection needs of its server.
class ConnectionHost {
 public:
  virtual void send(const sockaddr* to, const std::uint8_t* packet, std::size_t length) = 0;
  // A new connection id for `connection`, naming this worker (quic_common.h's make_cid).
  virtual void issue_cid(ngtcp2_cid* cid, std::size_t length, void* connection) = 0;
  virtual void retire_cid(const ngtcp2_cid& cid) = 0;
  virtual void ended(void* connection) = 0;  // destroys it
  virtual const std::string& who() const = 0;

 protected:
  ~ConnectionHost() = default;
};

class EchoConnection {
 public:
  EchoConnection(uv_loop_t* loop, ConnectionHost& host, const sockaddr_storage& local, socklen_t local_length);
  ~EchoConnection();
  EchoConnection(const EchoConnection&) = delete;
  EchoConnection& operator=(const EchoConnection&) = delete;

  // From the client's first Initial (`hd`, from ngtcp2_accept). Empty: accepted.
  std::string accept(const ngtcp2_pkt_hd& hd, const sockaddr* remote, socklen_t remote_length,
                     gnutls_certificate_credentials_t credentials);
  // One datagram of this connection; false when the connection is over.
  bool read(const sockaddr* remote, socklen_t remote_length, std::span<const std::uint8_t> datagram);

 private:
  struct Stream {
    std::string data;
    std::size_t sent = 0;
    bool finished = false;  // the client's FIN came: the answer may go
    bool answered = false;
  };
  bool write();
  void arm_timer();
  void expired();
  ngtcp2_path path(const sockaddr* remote, socklen_t remote_length);
  static int on_stream_data(ngtcp2_conn*, std::uint32_t flags, std::int64_t id, std::uint64_t, const std::uint8_t* data,
                            std::size_t length, void* self, void*);
  static int on_stream_close(ngtcp2_conn*, std::uint32_t, std::int64_t id, std::uint64_t, void* self, void*);
  static int on_new_cid(ngtcp2_conn*, ngtcp2_cid* cid, std::uint8_t* token, std::size_t length, void* self);
  static int on_remove_cid(ngtcp2_conn*, const ngtcp2_cid* cid, void* self);
  static ngtcp2_conn* conn_of(ngtcp2_crypto_conn_ref* ref);

  uv_loop_t* loop_;
  ConnectionHost& host_;
  sockaddr_storage local_{}, remote_{};
  socklen_t local_length_, remote_length_ = 0;
  ngtcp2_crypto_conn_ref ref_{};
  gnutls_session_t tls_ = nullptr;
  ngtcp2_conn* conn_ = nullptr;
  std::map<std::int64_t, Stream> streams_;
  baton::UvHandle<uv_timer_t> timer_;
};

}  // namespace quicecho
