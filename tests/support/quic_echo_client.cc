#include "support/quic_echo_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "baton/unique_fd.h"
#include "quic_common.h"

namespace testing_support {
namespace {

using Clock = std::chrono::steady_clock;
using quicecho::now_ns;

class EchoClient {
 public:
  explicit EchoClient(const QuicEchoOptions& options) : options_(options) { ref_.get_conn = conn_of, ref_.user_data = this; }
  ~EchoClient() {
    if (conn_) ngtcp2_conn_del(conn_);
    if (tls_) gnutls_deinit(tls_);
    if (credentials_) gnutls_certificate_free_credentials(credentials_);
  }
  baton::Result<QuicEchoResult> run();

 private:
  struct Stream {
    std::string sent, received;
    std::size_t written = 0;
    Clock::time_point opened;
    bool answered = false;
  };
  baton::Status connect();
  baton::Status write();
  baton::Status read();
  void open_stream(int n);
  std::optional<std::string> overdue() const;
  int wait_ms(Clock::time_point next_open) const;
  static ngtcp2_conn* conn_of(ngtcp2_crypto_conn_ref* ref) { return static_cast<EchoClient*>(ref->user_data)->conn_; }
  static int on_stream_data(ngtcp2_conn*, std::uint32_t flags, std::int64_t id, std::uint64_t, const std::uint8_t* data,
                            std::size_t length, void* self, void*);
  static int on_handshake(ngtcp2_conn*, void* self) { return static_cast<EchoClient*>(self)->handshake_done_ = true, 0; }
  static int on_new_cid(ngtcp2_conn*, ngtcp2_cid* cid, std::uint8_t* token, std::size_t length, void*) {
    cid->datalen = length;
    quicecho::random_bytes(cid->data, length);
    quicecho::random_bytes(token, NGTCP2_STATELESS_RESET_TOKENLEN);
    return 0;
  }

  QuicEchoOptions options_;
  baton::UniqueFd fd_;
  sockaddr_in local_{}, remote_{};
  ngtcp2_crypto_conn_ref ref_{};
  gnutls_certificate_credentials_t credentials_ = nullptr;
  gnutls_session_t tls_ = nullptr;
  ngtcp2_conn* conn_ = nullptr;
  bool handshake_done_ = false;
  std::map<std::int64_t, Stream> streams_;
  int answered_ = 0;
  std::string broken_;  // set by a callback
  QuicEchoResult result_;
};

baton::Status EchoClient::connect() {
  fd_ = baton::UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  remote_.sin_family = AF_INET;
  remote_.sin_port = htons(options_.port);
  remote_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof local_;
  if (!fd_ || ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&remote_), sizeof remote_) != 0 ||
      ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&local_), &length) != 0)
    return baton::Status::from_errno(errno, "udp socket to 127.0.0.1:" + std::to_string(options_.port));
  if (gnutls_certificate_allocate_credentials(&credentials_) != 0) return baton::Status::error("gnutls credentials");
  // The server's certificate is self-signed and made at its start: nothing to verify it against.
  if (auto error = quicecho::make_tls_session(&tls_, false, credentials_, &ref_); !error.empty())
    return baton::Status::error(error);
  ngtcp2_callbacks callbacks{};
  quicecho::set_crypto_callbacks(callbacks, false);
  callbacks.recv_stream_data = on_stream_data;
  callbacks.handshake_completed = on_handshake;
  callbacks.get_new_connection_id = on_new_cid;
  ngtcp2_settings settings;
  ngtcp2_transport_params params;
  quicecho::default_settings(&settings, &params);
  ngtcp2_cid dcid, scid;
  dcid.datalen = 16;  // not quicecho's length: a first choice names no worker
  quicecho::random_bytes(dcid.data, dcid.datalen);
  scid.datalen = 16;
  quicecho::random_bytes(scid.data, scid.datalen);
  ngtcp2_path path{{reinterpret_cast<sockaddr*>(&local_), sizeof local_},
                   {reinterpret_cast<sockaddr*>(&remote_), sizeof remote_}, nullptr};
  if (int rv = ngtcp2_conn_client_new(&conn_, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &callbacks, &settings, &params,
                                      nullptr, this);
      rv != 0)
    return baton::Status::error(std::string("ngtcp2_conn_client_new: ") + ngtcp2_strerror(rv));
  ngtcp2_conn_set_tls_native_handle(conn_, tls_);
  result_.started = Clock::now();
  return baton::Status::ok();
}

int EchoClient::on_stream_data(ngtcp2_conn* conn, std::uint32_t flags, std::int64_t id, std::uint64_t,
                               const std::uint8_t* data, std::size_t length, void* self, void*) {
  auto* c = static_cast<EchoClient*>(self);
  Stream& s = c->streams_[id];
  s.received.append(reinterpret_cast<const char*>(data), length);
  ngtcp2_conn_extend_max_stream_offset(conn, id, length);
  ngtcp2_conn_extend_max_offset(conn, length);
  if (!(flags & NGTCP2_STREAM_DATA_FLAG_FIN) || s.answered) return 0;
  s.answered = true;
  if (s.received.rfind(s.sent + " ", 0) != 0) {
    c->broken_ = "stream answered \"" + s.received + "\" to \"" + s.sent + "\"";
    return 0;
  }
  if (c->answered_++ == 0) {
    c->result_.first_who = s.received.substr(s.sent.size() + 1);
    c->result_.generation = std::stoull(c->result_.first_who.substr(0, c->result_.first_who.find('.')));
  }
  c->result_.round_trips.push_back(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - s.opened));
  return 0;
}

void EchoClient::open_stream(int n) {
  std::int64_t id = -1;
  if (ngtcp2_conn_open_bidi_stream(conn_, &id, nullptr) != 0) return;  // blocked: the next turn tries again
  streams_[id] = Stream{"ping " + std::to_string(n), "", 0, Clock::now(), false};
}

baton::Status EchoClient::write() {
  // A stream is done once its bytes and its FIN went: `written` counts the FIN as one more.
  const quicecho::PacketWriter writer{
      .next = [&](const std::set<std::int64_t>& blocked) -> std::optional<quicecho::Outgoing> {
        for (auto& [id, s] : streams_)
          if (s.written <= s.sent.size() && !blocked.count(id))
            return quicecho::Outgoing{id, {reinterpret_cast<const std::uint8_t*>(s.sent.data()) + s.written,
                                           s.sent.size() - s.written}};
        return std::nullopt;
      },
      .wrote = [&](std::int64_t id, std::size_t bytes) {
        if (auto it = streams_.find(id); it != streams_.end() && (it->second.written += bytes) == it->second.sent.size())
          ++it->second.written;
      },
      .send = [&](const std::uint8_t* packet, std::size_t length) {
        (void)::send(fd_.get(), packet, length, 0);  // loss is QUIC's to repair
      },
  };
  if (int rv = quicecho::write_packets(conn_, writer); rv != 0)
    return baton::Status::error(std::string("write: ") + ngtcp2_strerror(rv));
  return baton::Status::ok();
}

baton::Status EchoClient::read() {
  std::uint8_t buffer[65536];
  for (;;) {
    const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
    if (n < 0) return baton::Status::ok();  // EAGAIN (or a refused port: the next write says more)
    ngtcp2_path path{{reinterpret_cast<sockaddr*>(&local_), sizeof local_},
                     {reinterpret_cast<sockaddr*>(&remote_), sizeof remote_}, nullptr};
    ngtcp2_pkt_info info{};
    if (int rv = ngtcp2_conn_read_pkt(conn_, &path, &info, buffer, static_cast<std::size_t>(n), now_ns()); rv != 0)
      return baton::Status::error(std::string("the server ended the connection: ") + ngtcp2_strerror(rv));
  }
}

std::optional<std::string> EchoClient::overdue() const {
  const auto now = Clock::now();
  for (const auto& [id, s] : streams_)
    if (!s.answered && now - s.opened > options_.answer_within)
      return "\"" + s.sent + "\" not answered within " + std::to_string(options_.answer_within.count()) + " ms";
  return std::nullopt;
}

int EchoClient::wait_ms(Clock::time_point next_open) const {
  const ngtcp2_tstamp expiry = ngtcp2_conn_get_expiry(conn_), now = now_ns();
  std::int64_t ms = expiry <= now ? 0 : static_cast<std::int64_t>((expiry - now) / NGTCP2_MILLISECONDS);
  const auto until_open = std::chrono::duration_cast<std::chrono::milliseconds>(next_open - Clock::now()).count();
  if (handshake_done_) ms = std::min<std::int64_t>(ms, std::max<std::int64_t>(0, until_open));
  return static_cast<int>(std::min<std::int64_t>(ms, 50));
}

baton::Result<QuicEchoResult> EchoClient::run() {
  if (auto st = connect(); !st) return st;
  const auto give_up = Clock::now() + options_.streams * options_.gap + std::chrono::seconds(30);
  auto next_open = Clock::now();
  int opened = 0;
  while (answered_ < options_.streams) {
    if (!broken_.empty()) return baton::Status::error(broken_);
    if (auto late = overdue()) return baton::Status::error(*late);
    if (Clock::now() > give_up) return baton::Status::error("the connection did not finish in time");
    if (handshake_done_ && opened < options_.streams && Clock::now() >= next_open) {
      open_stream(++opened);
      next_open += options_.gap;
    }
    if (auto st = write(); !st) return st;
    pollfd p{fd_.get(), POLLIN, 0};
    (void)::poll(&p, 1, wait_ms(next_open));
    if (auto st = read(); !st) return st;
    if (ngtcp2_conn_get_expiry(conn_) <= now_ns())
      if (int rv = ngtcp2_conn_handle_expiry(conn_, now_ns()); rv != 0)
        return baton::Status::error(std::string("the connection timed out: ") + ngtcp2_strerror(rv));
  }
  ngtcp2_connection_close_error close_error;
  ngtcp2_connection_close_error_set_application_error(&close_error, 0, nullptr, 0);
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info info{};
  std::uint8_t packet[1452];
  const ngtcp2_ssize n = ngtcp2_conn_write_connection_close(conn_, &ps.path, &info, packet, sizeof packet,
                                                            &close_error, now_ns());
  if (n > 0) (void)::send(fd_.get(), packet, static_cast<std::size_t>(n), 0);
  return result_;
}

}  // namespace

baton::Result<QuicEchoResult> run_quic_echo(const QuicEchoOptions& options) { return EchoClient(options).run(); }

}  // namespace testing_support
