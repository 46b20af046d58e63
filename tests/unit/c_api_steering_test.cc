// libbaton's flow steering through its C API, with this test playing baton
// on a real channel: the inbox and a peer's come in STEER, steer() forwards
// a datagram of the peer's flow to the peer's inbox, and a frame on the
// worker's own inbox reaches deliver().
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <uv.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "baton/baton.h"
#include "baton/channel.h"
#include "baton/flow_frame.h"
#include "baton/listener_socket.h"

namespace baton {
namespace {

struct Inbox {
  UniqueFd read, write;
  Inbox() {
    int ends[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, ends), 0);
    read = UniqueFd(ends[0]);
    write = UniqueFd(ends[1]);
  }
};

struct Delivered {
  std::vector<std::string> datagrams;
  std::vector<int> ports;
};

std::uint32_t tag_in_first_byte(void*, const char*, const sockaddr*, const void* datagram, size_t length) {
  return length == 0 ? 0 : static_cast<const std::uint8_t*>(datagram)[0];
}

void record(void* data, const char* listener, const sockaddr* from, const void* datagram, size_t length) {
  auto* d = static_cast<Delivered*>(data);
  EXPECT_STREQ(listener, "udp");
  d->datagrams.emplace_back(static_cast<const char*>(datagram), length);
  d->ports.push_back(ntohs(reinterpret_cast<const sockaddr_in*>(from)->sin_port));
}

sockaddr_in client(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

int steer(baton_worker* w, const std::string& datagram, std::uint16_t port = 4242) {
  const sockaddr_in from = client(port);
  return baton_steer(w, "udp", reinterpret_cast<const sockaddr*>(&from), datagram.data(), datagram.size());
}

TEST(CApiSteering, ForwardsAPeersFlowAndDeliversItsOwn) {
  auto pair = Channel::make_pair();
  ASSERT_TRUE(pair);
  Channel baton_side = std::move(pair->first);
  auto udp = bind_listener(parse_listener_spec("udp=udp://127.0.0.1:0").value(), 0);
  ASSERT_TRUE(udp) << udp.status().message();
  Inbox own, peer;
  // Queued before the worker asks: it reads them in order (WELCOME, then STEER after its FEATURES).
  const int listener_fd = udp->fd();
  ASSERT_TRUE(baton_side.send(Welcome{2, 0, {{"udp", udp->spec().url()}}, kWelcomeFeatures | kWelcomeSteers},
                              {&listener_fd, 1}));
  const int steer_fds[] = {own.read.get(), peer.write.get()};
  ASSERT_TRUE(baton_side.send(Steer{5, {{7, 1, 0}}, {}}, steer_fds));

  UniqueFd worker_end = pair->second.release_fd();
  ::setenv("BATON_CHANNEL_FD", std::to_string(worker_end.get()).c_str(), 1);
  ::setenv("BATON_PROTOCOL", "1", 1);
  uv_loop_t loop;
  uv_loop_init(&loop);
  baton_options options{"c steering test", nullptr, 2000};
  baton_worker* w = baton_create(&loop, &options);
  ASSERT_NE(w, nullptr) << baton_create_error();
  (void)worker_end.release();  // the worker's now
  Delivered delivered;
  const baton_flow_steering steering{&delivered, tag_in_first_byte, record};
  baton_on_flows(w, &steering);
  ASSERT_EQ(baton_ready(w), 0) << baton_error(w);
  EXPECT_EQ(baton_flow_tag(w), 5u);
  for (MessageType expected : {MessageType::kHello, MessageType::kFeatures, MessageType::kReady}) {
    auto m = baton_side.receive_wait(std::chrono::seconds(5));
    ASSERT_TRUE(m && m->outcome == Channel::Outcome::kMessage);
    EXPECT_EQ(m->message.type, expected);
    if (expected == MessageType::kFeatures) {
      EXPECT_NE(m->message.as<Features>()->flags & kFeatureSteersFlows, 0u);
    }
  }

  // A peer's flow goes to its inbox, framed; ours, a new flow and an unknown tag stay here.
  EXPECT_EQ(steer(w, "\x07peer's"), 1);
  std::uint8_t buffer[256];
  const ssize_t n = ::recv(peer.read.get(), buffer, sizeof buffer, MSG_DONTWAIT);
  ASSERT_GT(n, 0);
  auto frame = decode_flow_frame({buffer, static_cast<std::size_t>(n)});
  ASSERT_TRUE(frame) << frame.status().message();
  EXPECT_EQ(frame->listener, 0);
  EXPECT_EQ(ntohs(reinterpret_cast<const sockaddr_in*>(&frame->from)->sin_port), 4242);
  EXPECT_EQ(std::string(frame->payload.begin(), frame->payload.end()), "\x07peer's");
  EXPECT_EQ(steer(w, "\x05ours"), 0);
  EXPECT_EQ(steer(w, std::string("\0new", 4)), 0);
  EXPECT_EQ(steer(w, "\x09nobody's"), 0);

  // A frame on our inbox (as a peer would forward it) reaches deliver().
  std::uint8_t header[kMaxFlowFrameHeader];
  const sockaddr_in from = client(5151);
  const std::size_t h = encode_flow_header(0, reinterpret_cast<const sockaddr*>(&from), header);
  std::string frame_bytes(reinterpret_cast<char*>(header), h);
  frame_bytes += "\x05forwarded";
  ASSERT_EQ(::send(own.write.get(), frame_bytes.data(), frame_bytes.size(), 0), static_cast<ssize_t>(frame_bytes.size()));
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
       delivered.datagrams.empty() && std::chrono::steady_clock::now() < until;)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(delivered.datagrams, std::vector<std::string>{"\x05forwarded"});
  EXPECT_EQ(delivered.ports, std::vector<int>{5151});

  // The peer is gone: its flows are served here.
  ASSERT_TRUE(baton_side.send(Steer{0, {}, {7}}));
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
       steer(w, "\x07peer's") == 1 && std::chrono::steady_clock::now() < until;) {
    (void)::recv(peer.read.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  EXPECT_EQ(steer(w, "\x07peer's"), 0);

  baton_destroy(w);
  uv_run(&loop, UV_RUN_NOWAIT);  // the handles' close callbacks
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace baton
