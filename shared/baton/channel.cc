#include "baton/channel.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace baton {
namespace {

constexpr std::size_t kFdControlSpace = CMSG_SPACE(sizeof(int) * kMaxFdsPerDatagram);

}  // namespace

void attach_fds(msghdr& msg, std::span<char> control, std::span<const int> fds) {
  if (fds.empty()) return;
  const std::size_t space = CMSG_SPACE(sizeof(int) * fds.size());
  std::memset(control.data(), 0, space);
  msg.msg_control = control.data();
  msg.msg_controllen = space;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
}

Result<std::pair<Channel, Channel>> Channel::make_pair() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    int err = errno;
    Status st = Status::from_errno(err, "socketpair for a worker channel");
    if (err == EMFILE || err == ENFILE)
      return st.with_hint("the open-files limit is reached; raise it (ulimit -n, or LimitNOFILE= under systemd)");
    return st;
  }
  return std::make_pair(Channel(UniqueFd(sv[0])), Channel(UniqueFd(sv[1])));
}

Status Channel::send_datagram(std::span<const std::uint8_t> bytes, std::span<const int> fds,
                              Clock::time_point deadline) {
  iovec iov{const_cast<std::uint8_t*>(bytes.data()), bytes.size()};
  return send_iov(&iov, 1, fds, deadline);
}

Status Channel::send_parts(MessageType type, std::initializer_list<std::span<const std::uint8_t>> parts,
                           Clock::time_point deadline) {
  std::size_t body = 0;
  for (const auto& p : parts) body += p.size();
  if (body > kMaxBodySize || parts.size() > 7)
    return Status::error(message_type_name(static_cast<std::uint16_t>(type)) + " body of " + std::to_string(body) +
                         " bytes exceeds the limit of " + std::to_string(kMaxBodySize));
  FrameHeader h;
  h.type = static_cast<std::uint16_t>(type);
  h.body_length = static_cast<std::uint32_t>(body);
  std::uint8_t header[kHeaderSize];
  encode_header(h, header);
  iovec iov[8];
  iov[0] = {header, kHeaderSize};
  std::size_t n = 1;
  for (const auto& p : parts) iov[n++] = {const_cast<std::uint8_t*>(p.data()), p.size()};
  return send_iov(iov, n, {}, deadline);
}

Status Channel::send_iov(iovec* iov, std::size_t count, std::span<const int> fds, Clock::time_point deadline) {
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = count;
  alignas(cmsghdr) char control[kFdControlSpace];
  attach_fds(msg, control, fds);
  for (;;) {
    ssize_t n = ::sendmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return Status::ok();  // SEQPACKET: all or nothing
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return Status::from_errno(errno, "channel send");
    if (deadline == kNoWait)
      return Status::from_errno(EAGAIN, "channel send").with_hint("the peer is not reading its channel");
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0)
      return Status::from_errno(ETIMEDOUT, "channel send").with_hint("the peer stopped reading");
    pollfd p{fd_.get(), POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(left.count()) + 1) < 0 && errno != EINTR)
      return Status::from_errno(errno, "poll channel");
  }
}

Status Channel::send_raw(MessageType type, std::span<const std::uint8_t> body, std::span<const int> fds,
                         Clock::time_point deadline) {
  if (body.size() > kMaxBodySize)
    return Status::error(message_type_name(static_cast<std::uint16_t>(type)) + " body of " +
                         std::to_string(body.size()) + " bytes exceeds the limit of " +
                         std::to_string(kMaxBodySize));
  if (fds.size() > kMaxFdsPerMessage)
    return Status::error(std::to_string(fds.size()) + " fds exceed the per-message limit of " +
                         std::to_string(kMaxFdsPerMessage));
  std::vector<std::uint8_t> datagram(kHeaderSize + body.size());
  FrameHeader h;
  h.type = static_cast<std::uint16_t>(type);
  h.body_length = static_cast<std::uint32_t>(body.size());
  h.fd_count = static_cast<std::uint32_t>(fds.size());
  encode_header(h, datagram.data());
  std::copy(body.begin(), body.end(), datagram.begin() + kHeaderSize);

  std::size_t first = std::min<std::size_t>(fds.size(), kMaxFdsPerDatagram);
  if (Status st = send_datagram(datagram, fds.first(first), deadline); !st) return st;
  for (std::size_t sent = first; sent < fds.size();) {
    std::size_t batch = std::min<std::size_t>(fds.size() - sent, kMaxFdsPerDatagram);
    FrameHeader c;
    c.type = static_cast<std::uint16_t>(MessageType::kFds);
    c.fd_count = static_cast<std::uint32_t>(batch);
    std::uint8_t header[kHeaderSize];
    encode_header(c, header);
    if (Status st = send_datagram(header, fds.subspan(sent, batch), deadline); !st)
      return st.with_context("fd continuation");
    sent += batch;
  }
  return Status::ok();
}

Result<Channel::Datagram> Channel::recv_one() {
  // One byte more than the limit, so an oversized datagram shows as MSG_TRUNC
  // rather than as a silently cut message.
  constexpr std::size_t kBufferSize = kMaxMessageSize + 1;
  if (!rx_) rx_.reset(new std::uint8_t[kBufferSize]);
  iovec iov{rx_.get(), kBufferSize};
  alignas(cmsghdr) char control[kFdControlSpace];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  Datagram d;
  if (n < 0) {
    if (errno == EAGAIN) return d;
    // The peer died with our messages unread: as good as an orderly close.
    if (errno == ECONNRESET) return Datagram{Outcome::kClosed, {}, {}};
    return Status::from_errno(errno, "channel receive");
  }
  // Own every fd that arrived before judging anything, so each error path closes them.
  bool foreign_cmsg = false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
      foreign_cmsg = true;
      continue;
    }
    std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const auto* data = reinterpret_cast<const unsigned char*>(CMSG_DATA(c));
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, data + i * sizeof(int), sizeof fd);
      d.fds.emplace_back(fd);
    }
  }
  if (n == 0 && d.fds.empty()) return Datagram{Outcome::kClosed, {}, {}};
  // No peer can send more fds than our buffer holds (SCM_MAX_FD), so a
  // truncated control message means the kernel could not install them here
  // (EMFILE): the message arrived, its fds did not. The caller decides.
  if (msg.msg_flags & MSG_CTRUNC) {
    d.fds.clear();
    d.fds_lost = true;
  }
  if (msg.msg_flags & MSG_TRUNC)
    return Status::error("message larger than the limit of " + std::to_string(kMaxMessageSize) + " bytes");
  if (foreign_cmsg) return Status::error("unexpected control message (only SCM_RIGHTS is allowed)");
  d.outcome = Outcome::kMessage;
  d.bytes = std::span<const std::uint8_t>(rx_.get(), static_cast<std::size_t>(n));
  return d;
}

Result<Channel::Received> Channel::reassemble(Datagram& d) {
  auto header = decode_header(d.bytes);
  if (!header) return header.status();
  const FrameHeader& h = *header;
  const std::string what = message_type_name(h.type);
  const bool continuation = h.type == static_cast<std::uint16_t>(MessageType::kFds);
  if (partial_) {
    std::uint32_t want = std::min(fds_expected_, kMaxFdsPerDatagram);
    if (!continuation)
      return Status::error("expected an FDS continuation of " +
                           message_type_name(static_cast<std::uint16_t>(pending_.type)) + ", got " + what);
    if (h.body_length != 0) return Status::error("FDS continuation carries a body");
    if (h.fd_count != want || (d.fds.size() != want && !d.fds_lost))
      return Status::error("FDS continuation: expected " + std::to_string(want) + " fds, header says " +
                           std::to_string(h.fd_count) + ", received " + std::to_string(d.fds.size()));
  } else {
    if (continuation) return Status::error("FDS continuation without a message to continue");
    std::uint32_t want = std::min(h.fd_count, kMaxFdsPerDatagram);
    if (d.fds.size() != want && !d.fds_lost)
      return Status::error(what + " announces " + std::to_string(h.fd_count) + " fds; the datagram carried " +
                           std::to_string(d.fds.size()) + " (expected " + std::to_string(want) + ")");
    pending_ = Envelope{static_cast<MessageType>(h.type),
                        std::vector<std::uint8_t>(d.bytes.begin() + kHeaderSize, d.bytes.end()), {}};
    fds_expected_ = h.fd_count;
    partial_ = true;
  }
  fds_expected_ -= d.fds_lost ? std::min(fds_expected_, kMaxFdsPerDatagram) : static_cast<std::uint32_t>(d.fds.size());
  pending_.fds_lost = pending_.fds_lost || d.fds_lost;
  for (auto& fd : d.fds) pending_.fds.push_back(std::move(fd));
  if (fds_expected_ > 0) return Received{Outcome::kWouldBlock, {}};
  partial_ = false;
  return Received{Outcome::kMessage, std::move(pending_)};
}

Result<Channel::Received> Channel::receive_datagram() {
  auto d = recv_one();
  if (!d) return d.status();
  if (d->outcome != Outcome::kMessage) return Received{d->outcome, {}};
  return reassemble(*d);
}

Result<Channel::Received> Channel::receive() {
  for (;;) {
    auto r = receive_datagram();
    if (!r) {
      // A broken stream cannot be resynchronized: drop what was half-assembled.
      partial_ = false;
      pending_ = Envelope{};
      return r;
    }
    // A continuation may already be queued behind the first datagram.
    if (r->outcome == Outcome::kWouldBlock && partial_) {
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, 0) > 0) continue;
    }
    return r;
  }
}

Result<Channel::Received> Channel::receive_wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto r = receive();
    if (!r || r->outcome != Outcome::kWouldBlock) return r;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return Status::from_errno(ETIMEDOUT, "waiting " + std::to_string(timeout.count()) + " ms for a channel message");
    pollfd p{fd_.get(), POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno != EINTR) return Status::from_errno(errno, "poll channel");
  }
}

}  // namespace baton
