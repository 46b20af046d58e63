// The channel over a real socketpair: framing, fd batches, and a hostile peer.
#include "baton/channel.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstring>

#include "support/proc.h"

namespace baton {
namespace {

struct Pair {
  Channel a, b;
};

Pair make_pair() {
  auto p = Channel::make_pair();
  EXPECT_TRUE(p) << p.status().message();
  return {std::move(p->first), std::move(p->second)};
}

Envelope receive_one(Channel& c) {
  auto r = c.receive_wait(std::chrono::seconds(10));
  EXPECT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->outcome, Channel::Outcome::kMessage);
  return std::move(r->message);
}

std::string receive_error(Channel& c) {
  auto r = c.receive_wait(std::chrono::seconds(10));
  EXPECT_FALSE(r) << "a bad datagram was accepted";
  return r ? "" : r.status().message();
}

// Sends raw bytes with `fds` attached, bypassing the Channel's own framing.
void send_raw(int fd, const std::vector<std::uint8_t>& bytes, const std::vector<int>& fds) {
  iovec iov{const_cast<std::uint8_t*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  attach_fds(msg, control, fds);
  ASSERT_GE(::sendmsg(fd, &msg, MSG_NOSIGNAL), 0) << std::strerror(errno);
}

std::vector<std::uint8_t> frame(MessageType type, std::vector<std::uint8_t> body, std::uint32_t fd_count) {
  std::vector<std::uint8_t> out(kHeaderSize);
  FrameHeader h;
  h.type = static_cast<std::uint16_t>(type);
  h.body_length = static_cast<std::uint32_t>(body.size());
  h.fd_count = fd_count;
  encode_header(h, out.data());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

std::vector<UniqueFd> open_devnulls(int n) {
  std::vector<UniqueFd> fds;
  for (int i = 0; i < n; ++i) fds.emplace_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  return fds;
}

std::vector<int> raw(const std::vector<UniqueFd>& fds) {
  std::vector<int> out;
  for (const auto& f : fds) out.push_back(f.get());
  return out;
}

int my_fd_count() { return testing_support::open_fd_count(::getpid()); }

TEST(Channel, MessageRoundTrip) {
  auto [a, b] = make_pair();
  ASSERT_TRUE(a.send(Hello{1, 77, "test"}));
  Envelope m = receive_one(b);
  auto hello = m.as<Hello>();
  ASSERT_TRUE(hello) << hello.status().message();
  EXPECT_EQ(hello->pid, 77u);
  EXPECT_TRUE(m.fds.empty());
  EXPECT_FALSE(m.as<Ready>()) << "as<T> must check the type";
}

TEST(Channel, ReceiveWithoutDataWouldBlock) {
  auto [a, b] = make_pair();
  auto r = b.receive();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, Channel::Outcome::kWouldBlock);
}

TEST(Channel, PeerCloseIsReported) {
  auto [a, b] = make_pair();
  a = Channel();
  auto r = b.receive_wait(std::chrono::seconds(10));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, Channel::Outcome::kClosed);
}

TEST(Channel, ThousandFdsTravelInBatches) {
  auto [a, b] = make_pair();
  auto fds = open_devnulls(1000);
  struct stat want{};
  ASSERT_EQ(::fstat(fds[0].get(), &want), 0);
  ASSERT_TRUE(a.send(Welcome{1, 0, {}}, raw(fds)));
  Envelope m = receive_one(b);
  ASSERT_EQ(m.fds.size(), 1000u);
  for (const auto& fd : m.fds) {
    struct stat got{};
    ASSERT_EQ(::fstat(fd.get(), &got), 0);
    EXPECT_EQ(got.st_ino, want.st_ino);
    EXPECT_EQ(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC) << "received fds must be close-on-exec";
  }
}

TEST(Channel, TruncatedMessageIsRejected) {
  auto [a, b] = make_pair();
  send_raw(a.fd(), {'B', 'A', 'T'}, {});
  EXPECT_NE(receive_error(b).find("short message"), std::string::npos);
}

TEST(Channel, GarbageIsRejected) {
  auto [a, b] = make_pair();
  std::vector<std::uint8_t> junk(40, 0xAB);
  send_raw(a.fd(), junk, {});
  EXPECT_NE(receive_error(b).find("bad magic"), std::string::npos);
}

TEST(Channel, OversizedMessageIsRejected) {
  auto [a, b] = make_pair();
  auto big = frame(MessageType::kError, std::vector<std::uint8_t>(kMaxMessageSize, 1), 0);
  send_raw(a.fd(), big, {});
  EXPECT_NE(receive_error(b).find("larger than the limit"), std::string::npos);
  EXPECT_FALSE(a.send_raw(MessageType::kError, std::vector<std::uint8_t>(kMaxMessageSize), {}))
      << "the sender must refuse too";
}

TEST(Channel, FewerFdsThanAnnouncedIsRejectedAndFdsClosed) {
  auto [a, b] = make_pair();
  auto fds = open_devnulls(1);
  int before = my_fd_count();
  send_raw(a.fd(), frame(MessageType::kWelcome, encode_body(Welcome{}), 2), raw(fds));
  EXPECT_NE(receive_error(b).find("announces 2 fds"), std::string::npos);
  EXPECT_EQ(my_fd_count(), before) << "the fd that did arrive must be closed";
}

TEST(Channel, SurplusFdsAreRejectedAndClosed) {
  auto [a, b] = make_pair();
  auto fds = open_devnulls(3);
  int before = my_fd_count();
  send_raw(a.fd(), frame(MessageType::kReady, encode_body(Ready{}), 0), raw(fds));
  EXPECT_NE(receive_error(b).find("announces 0 fds"), std::string::npos);
  EXPECT_EQ(my_fd_count(), before);
}

TEST(Channel, ContinuationMustFollowAnnouncedFds) {
  auto [a, b] = make_pair();
  auto fds = open_devnulls(kMaxFdsPerDatagram);
  int before = my_fd_count();
  // Announce 300 fds, send the first 253, then something that is not an FDS continuation.
  send_raw(a.fd(), frame(MessageType::kWelcome, encode_body(Welcome{}), 300), raw(fds));
  send_raw(a.fd(), frame(MessageType::kReady, encode_body(Ready{}), 0), {});
  EXPECT_NE(receive_error(b).find("expected an FDS continuation"), std::string::npos);
  EXPECT_EQ(my_fd_count(), before) << "half-assembled fds must be closed";
}

TEST(Channel, StrayContinuationIsRejected) {
  auto [a, b] = make_pair();
  auto fds = open_devnulls(1);
  send_raw(a.fd(), frame(MessageType::kFds, {}, 1), raw(fds));
  EXPECT_NE(receive_error(b).find("without a message"), std::string::npos);
}

TEST(Channel, ForeignControlMessageIsRejected) {
  auto [a, b] = make_pair();
  int one = 1;
  ASSERT_EQ(::setsockopt(b.fd(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one), 0);
  ASSERT_TRUE(a.send(Ready{}));
  EXPECT_NE(receive_error(b).find("unexpected control message"), std::string::npos);
}

TEST(Channel, FullBufferIsAnErrorNotABlock) {
  auto [a, b] = make_pair();
  Status st;
  for (int i = 0; i < 100'000 && st; ++i) st = a.send(Error{std::string(4000, 'x')});
  ASSERT_FALSE(st) << "a peer that never reads must not block the sender forever";
  EXPECT_EQ(st.error_number(), EAGAIN);
}

}  // namespace
}  // namespace baton
