#include "quic_common.h"

#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include <chrono>
#include <cstdlib>
#include <ctime>

namespace quicecho {
namespace {

constexpr char kPriority[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
    "-GROUP-ALL:+GROUP-SECP256R1:+GROUP-X25519:%DISABLE_TLS13_COMPAT_MODE";

std::string failed(const char* what, int rv) { return std::string(what) + ": " + gnutls_strerror(rv); }

}  // namespace

ngtcp2_tstamp now_ns() {
  return static_cast<ngtcp2_tstamp>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

void random_bytes(std::uint8_t* out, std::size_t length) {
  if (gnutls_rnd(GNUTLS_RND_RANDOM, out, length) != 0) std::abort();  // no randomness: nothing is safe
}

void ngtcp2_random(std::uint8_t* out, std::size_t length, const ngtcp2_rand_ctx*) { random_bytes(out, length); }

void make_cid(ngtcp2_cid* cid, std::uint32_t tag, std::size_t length) {
  cid->datalen = length;
  random_bytes(cid->data, length);
  cid->data[0] = kCidMarker;
  for (int i = 0; i < 4; ++i) cid->data[1 + i] = static_cast<std::uint8_t>(tag >> (24 - 8 * i));
}

std::uint32_t tag_in(std::span<const std::uint8_t> datagram, ngtcp2_cid* dcid) {
  ngtcp2_version_cid vc;
  if (ngtcp2_pkt_decode_version_cid(&vc, datagram.data(), datagram.size(), kCidLength) != 0) return 0;
  if (dcid) ngtcp2_cid_init(dcid, vc.dcid, vc.dcidlen);
  // Not one of ours: a client's first choice (a random one that looks like
  // ours names a tag nobody has, and is served where it is read).
  if (vc.dcidlen != kCidLength || vc.dcid[0] != kCidMarker) return 0;
  return (std::uint32_t{vc.dcid[1]} << 24) | (std::uint32_t{vc.dcid[2]} << 16) | (std::uint32_t{vc.dcid[3]} << 8) |
         vc.dcid[4];
}

std::string make_server_credentials(gnutls_certificate_credentials_t* out) {
  gnutls_x509_privkey_t key = nullptr;
  gnutls_x509_crt_t crt = nullptr;
  std::string error;
  int rv = gnutls_certificate_allocate_credentials(out);
  if (rv == 0) rv = gnutls_x509_privkey_init(&key);
  if (rv == 0)
    rv = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
  if (rv == 0) rv = gnutls_x509_crt_init(&crt);
  const std::time_t now = std::time(nullptr);
  if (rv == 0) rv = gnutls_x509_crt_set_version(crt, 3);
  if (rv == 0) rv = gnutls_x509_crt_set_serial(crt, "\x01", 1);
  if (rv == 0) rv = gnutls_x509_crt_set_activation_time(crt, now - 3600);
  if (rv == 0) rv = gnutls_x509_crt_set_expiration_time(crt, now + 10 * 365 * 86400);
  if (rv == 0) rv = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "localhost", 9);
  if (rv == 0) rv = gnutls_x509_crt_set_key(crt, key);
  if (rv == 0) rv = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0);
  if (rv == 0) rv = gnutls_certificate_set_x509_key(*out, &crt, 1, key);
  if (rv != 0) error = failed("making a self-signed certificate", rv);
  if (crt) gnutls_x509_crt_deinit(crt);
  if (key) gnutls_x509_privkey_deinit(key);
  return error;
}

std::string make_tls_session(gnutls_session_t* out, bool server, gnutls_certificate_credentials_t credentials,
                             ngtcp2_crypto_conn_ref* conn_ref) {
  int rv = gnutls_init(out, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_ENABLE_EARLY_DATA |
                                GNUTLS_NO_END_OF_EARLY_DATA | (server ? GNUTLS_NO_AUTO_SEND_TICKET : 0));
  if (rv != 0) return failed("gnutls_init", rv);
  if ((rv = gnutls_priority_set_direct(*out, kPriority, nullptr)) != 0) return failed("gnutls_priority_set_direct", rv);
  rv = server ? ngtcp2_crypto_gnutls_configure_server_session(*out)
              : ngtcp2_crypto_gnutls_configure_client_session(*out);
  if (rv != 0) return "ngtcp2_crypto_gnutls_configure_session failed";
  if ((rv = gnutls_credentials_set(*out, GNUTLS_CRD_CERTIFICATE, credentials)) != 0)
    return failed("gnutls_credentials_set", rv);
  gnutls_datum_t alpn{reinterpret_cast<unsigned char*>(const_cast<char*>(kAlpn)), sizeof kAlpn - 1};
  if ((rv = gnutls_alpn_set_protocols(*out, &alpn, 1, GNUTLS_ALPN_MANDATORY)) != 0)
    return failed("gnutls_alpn_set_protocols", rv);
  if (!server) gnutls_server_name_set(*out, GNUTLS_NAME_DNS, "localhost", 9);
  gnutls_session_set_ptr(*out, conn_ref);
  return "";
}

void default_settings(ngtcp2_settings* settings, ngtcp2_transport_params* params) {
  ngtcp2_settings_default(settings);
  settings->initial_ts = now_ns();
  ngtcp2_transport_params_default(params);
  params->initial_max_stream_data_bidi_local = 256 * 1024;
  params->initial_max_stream_data_bidi_remote = 256 * 1024;
  params->initial_max_data = 1024 * 1024;
  params->initial_max_streams_bidi = 1000;
  params->max_idle_timeout = 10 * NGTCP2_SECONDS;
}

int write_packets(ngtcp2_conn* conn, const PacketWriter& writer) {
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info info{};
  std::uint8_t packet[1452];
  std::set<std::int64_t> blocked;
  const ngtcp2_tstamp ts = now_ns();
  for (;;) {
    const std::optional<Outgoing> out = writer.next(blocked);
    ngtcp2_vec data{out ? const_cast<std::uint8_t*>(out->unsent.data()) : nullptr, out ? out->unsent.size() : 0};
    ngtcp2_ssize written = -1;
    const std::int64_t id = out ? out->id : -1;
    const std::uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE | (out ? NGTCP2_WRITE_STREAM_FLAG_FIN : 0);
    const ngtcp2_ssize n =
        ngtcp2_conn_writev_stream(conn, &ps.path, &info, packet, sizeof packet, &written, flags, id, &data, out ? 1 : 0, ts);
    if (out && written >= 0) writer.wrote(id, static_cast<std::size_t>(written));
    if (n == NGTCP2_ERR_WRITE_MORE) continue;
    if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED || n == NGTCP2_ERR_STREAM_SHUT_WR) {
      blocked.insert(id);
      continue;
    }
    if (n <= 0) return static_cast<int>(n);
    writer.send(packet, static_cast<std::size_t>(n));
  }
}

void set_crypto_callbacks(ngtcp2_callbacks& cb, bool server) {
  if (server) {
    cb.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
  } else {
    cb.client_initial = ngtcp2_crypto_client_initial_cb;
    cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
  }
  cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
  cb.encrypt = ngtcp2_crypto_encrypt_cb;
  cb.decrypt = ngtcp2_crypto_decrypt_cb;
  cb.hp_mask = ngtcp2_crypto_hp_mask_cb;
  cb.update_key = ngtcp2_crypto_update_key_cb;
  cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
  cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
  cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
  cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
  cb.rand = ngtcp2_random;
}

}  // namespace quicecho
