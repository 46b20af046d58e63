// Channel: one end of an AF_UNIX SOCK_SEQPACKET socketpair that speaks the
// framed protocol of PROTOCOL.md, with fds attached through SCM_RIGHTS.
//
// The channel treats its peer as untrusted: every datagram is checked (size,
// header, cmsg level/type, announced vs. received fd counts) and any fd that
// arrives with a bad datagram is closed before the error returns. A message
// whose fds the kernel could not install (MSG_CTRUNC: our open-files limit)
// still arrives, marked fds_lost, so the receiver can refuse it and go on.
// Message ORDER is the caller's business (it knows which message it expects).
//
// Not thread-safe; one owner. I/O never blocks unless the call says so.
#pragma once

#include <chrono>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "baton/codec.h"
#include "baton/status.h"
#include "baton/unique_fd.h"

namespace baton {

// One complete message: its type, its body bytes and the fds it carried.
struct Envelope {
  MessageType type{};
  std::vector<std::uint8_t> body;
  std::vector<UniqueFd> fds;
  // The message arrived but the kernel could not give us its fds (this
  // process was at its open-files limit); `fds` holds none of them.
  bool fds_lost = false;

  // Decodes the body as M; fails if the type is not M's.
  template <class M> Result<M> as() const {
    if (type != M::kType)
      return Status::error("expected " + message_type_name(static_cast<std::uint16_t>(M::kType)) +
                           ", got " + message_type_name(static_cast<std::uint16_t>(type)));
    return decode_body<M>(body);
  }
};

// Attaches `fds` to `msg` as one SCM_RIGHTS control message built in
// `control`, which must hold CMSG_SPACE(sizeof(int) * fds.size()) bytes. The
// control bytes are zeroed first: CMSG_SPACE's padding must not go out
// uninitialized. No fds: no control message.
void attach_fds(msghdr& msg, std::span<char> control, std::span<const int> fds);

class Channel {
 public:
  enum class Outcome { kMessage, kWouldBlock, kClosed };
  struct Received {
    Outcome outcome = Outcome::kWouldBlock;
    Envelope message;  // valid when outcome == kMessage
  };

  Channel() = default;
  explicit Channel(UniqueFd fd) : fd_(std::move(fd)) {}

  // A connected pair, both ends close-on-exec.
  static Result<std::pair<Channel, Channel>> make_pair();

  int fd() const { return fd_.get(); }
  bool valid() const { return fd_.valid(); }
  // Hands the socket to someone else (e.g. the spawn code, to become fd 3).
  UniqueFd release_fd() { return std::move(fd_); }

  using Clock = std::chrono::steady_clock;
  // "Do not wait": a full socket buffer is an error at once.
  static constexpr Clock::time_point kNoWait = Clock::time_point::min();

  // Sends one message. `fds` are copied into the peer (ours stay open);
  // more than 253 go in continuation datagrams. By default never blocks: a
  // full socket buffer is an error (the peer is not reading). With a
  // deadline it waits for room until then (the handoff stream does).
  Status send_raw(MessageType type, std::span<const std::uint8_t> body, std::span<const int> fds,
                  Clock::time_point deadline = kNoWait);
  template <class M>
  Status send(const M& message, std::span<const int> fds = {}, Clock::time_point deadline = kNoWait) {
    return send_raw(M::kType, encode_body(message), fds, deadline);
  }

  // Sends one message without fds whose body is the concatenation of
  // `parts`, gathered by sendmsg() with no copy (the handoff's state chunks).
  Status send_parts(MessageType type, std::initializer_list<std::span<const std::uint8_t>> parts,
                    Clock::time_point deadline = kNoWait);

  // Reads what is available without blocking; returns a message once all of
  // its datagrams have arrived.
  Result<Received> receive();
  // Waits up to `timeout` for one complete message; kClosed if the peer hung up.
  Result<Received> receive_wait(std::chrono::milliseconds timeout);

 private:
  Status send_datagram(std::span<const std::uint8_t> bytes, std::span<const int> fds, Clock::time_point deadline);
  Status send_iov(iovec* iov, std::size_t count, std::span<const int> fds, Clock::time_point deadline);
  // One datagram off the socket: its bytes (in rx_) and the fds it carried,
  // after the syscall-level checks (MSG_CTRUNC, MSG_TRUNC, foreign cmsgs).
  struct Datagram {
    Outcome outcome = Outcome::kWouldBlock;
    std::span<const std::uint8_t> bytes;
    std::vector<UniqueFd> fds;
    bool fds_lost = false;  // MSG_CTRUNC: see Envelope::fds_lost
  };
  Result<Datagram> recv_one();
  // Checks the frame and joins FDS continuations to their message.
  Result<Received> reassemble(Datagram& datagram);
  Result<Received> receive_datagram();

  UniqueFd fd_;
  // Receive buffer, allocated on first use and reused (never zeroed again).
  std::unique_ptr<std::uint8_t[]> rx_;
  // A message whose fds are still arriving in kFds continuations.
  bool partial_ = false;
  Envelope pending_;
  std::uint32_t fds_expected_ = 0;
};

}  // namespace baton
