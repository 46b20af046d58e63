// What quicecho's server and the tests' QUIC client share: the clock,
// random bytes, TLS 1.3 over GnuTLS for QUIC (ngtcp2_crypto_gnutls), and
// how a connection id carries the owner's flow tag.
#pragma once

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <span>
#include <string>

namespace quicecho {

inline constexpr char kAlpn[] = "baton-echo";
// Server connection ids (as QUIC-LB's): a marker byte, the 4 bytes of the
// owner's flow tag, then random bytes.
inline constexpr std::size_t kCidLength = 18;
inline constexpr std::uint8_t kCidMarker = 0xba;

ngtcp2_tstamp now_ns();
void random_bytes(std::uint8_t* out, std::size_t length);
void ngtcp2_random(std::uint8_t* out, std::size_t length, const ngtcp2_rand_ctx*);

// A server connection id that names its owner: the marker, the tag big-endian, random bytes.
void make_cid(ngtcp2_cid* cid, std::uint32_t tag, std::size_t length = kCidLength);
// The tag in a datagram's destination connection id; 0 if it has none (a
// client's first Initial, a short packet).
std::uint32_t tag_in(std::span<const std::uint8_t> datagram, ngtcp2_cid* dcid = nullptr);

// A self-signed certificate for "localhost", made in memory at start-up: the
// example needs no files. Empty string on success, else what failed.
std::string make_server_credentials(gnutls_certificate_credentials_t* out);
// A TLS session for one QUIC connection; `conn_ref` lets ngtcp2_crypto find the connection.
std::string make_tls_session(gnutls_session_t* out, bool server, gnutls_certificate_credentials_t credentials,
                             ngtcp2_crypto_conn_ref* conn_ref);

// Stream data waiting to go: the stream, and its bytes not yet written
// (with `fin`, the stream ends after them).
struct Outgoing {
  std::int64_t id = -1;
  std::span<const std::uint8_t> unsent;
};
struct PacketWriter {
  // The next stream with bytes to send, not among `blocked`; none: only acks and the like.
  std::function<std::optional<Outgoing>(const std::set<std::int64_t>& blocked)> next;
  std::function<void(std::int64_t id, std::size_t bytes)> wrote;  // taken into a packet, FIN included when all
  std::function<void(const std::uint8_t* packet, std::size_t length)> send;
};
// Writes every packet the connection has now, each stream's bytes with a
// FIN; 0, or ngtcp2's error.
int write_packets(ngtcp2_conn* conn, const PacketWriter& writer);

// What both ends allow: 256 KiB a stream, 1 MiB a connection, 1,000
// streams, 10 s idle; the clock starts now.
void default_settings(ngtcp2_settings* settings, ngtcp2_transport_params* params);

// The callbacks both sides need from ngtcp2_crypto.
void set_crypto_callbacks(ngtcp2_callbacks& callbacks, bool server);

}  // namespace quicecho
