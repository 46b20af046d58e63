// EchoServer: quicecho's QUIC connections on one UDP socket shared with
// every other worker. Its connection ids carry its flow tag
// (quic_common.h), so Worker::steer() can send a datagram read by another
// worker here, and one read here to the worker that holds its connection.
#pragma once

#include <gnutls/gnutls.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>

#include "baton/uv_handle.h"
#include "baton/worker.h"
#include "echo_connection.h"

namespace quicecho {

class EchoServer final : public ConnectionHost {
 public:
  EchoServer(uv_loop_t* loop, baton::Worker& worker, std::string listener, gnutls_certificate_credentials_t credentials);
  ~EchoServer();
  baton::Status open(baton::UniqueFd fd);
  void start_reading();
  void serve(const sockaddr* from, std::span<const std::uint8_t> datagram);
  // Steering: the tag in the datagram's connection id; ours for a connection we hold.
  std::uint32_t owner(std::span<const std::uint8_t> datagram) const;
  // Stops reading the socket; our connections go on (steering brings their
  // datagrams) until they close, go idle, or the deadline passes.
  void drain(std::chrono::milliseconds deadline, std::function<void()> done);
  std::size_t connections() const { return connections_.size(); }

  void send(const sockaddr* to, const std::uint8_t* packet, std::size_t length) override;
  void issue_cid(ngtcp2_cid* cid, std::size_t length, void* connection) override;
  void retire_cid(const ngtcp2_cid& cid) override;
  void ended(void* connection) override;
  const std::string& who() const override { return who_; }

 private:
  static std::string key(const ngtcp2_cid& cid) { return std::string(reinterpret_cast<const char*>(cid.data), cid.datalen); }
  void accept(const sockaddr* from, socklen_t from_length, std::span<const std::uint8_t> datagram);
  void finish_if_done();
  void close();

  uv_loop_t* loop_;
  baton::Worker& worker_;
  std::string listener_;
  gnutls_certificate_credentials_t credentials_;
  std::string who_;
  sockaddr_storage local_{};
  socklen_t local_length_ = sizeof local_;
  std::unordered_map<EchoConnection*, std::unique_ptr<EchoConnection>> connections_;
  std::unordered_map<std::string, EchoConnection*> by_cid_;  // every id a connection answers to
  std::function<void()> done_;  // set while draining
  baton::UvHandle<uv_udp_t> socket_;
  baton::UvHandle<uv_timer_t> deadline_;
  bool open_ = false;
};

}  // namespace quicecho
