// UDP flow steering's parts without processes: the forwarded-datagram frame,
// and who gets which inbox (FlowInboxes, with recording workers).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "baton/channel.h"
#include "baton/codec.h"
#include "baton/flow_frame.h"
#include "flow_inboxes.h"

namespace baton {
namespace {

sockaddr_in6 address6(std::uint16_t port) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  a.sin6_addr.s6_addr[15] = 1;  // ::1
  return a;
}

TEST(FlowFrame, CarriesListenerAddressAndBytes) {
  for (int family : {AF_INET, AF_INET6}) {
    sockaddr_storage from{};
    if (family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&from);
      in->sin_family = AF_INET;
      in->sin_port = htons(4433);
      in->sin_addr.s_addr = htonl(0x7f000001);
    } else {
      *reinterpret_cast<sockaddr_in6*>(&from) = address6(4433);
    }
    std::uint8_t header[kMaxFlowFrameHeader];
    const std::size_t n = encode_flow_header(3, reinterpret_cast<sockaddr*>(&from), header);
    ASSERT_EQ(n, family == AF_INET ? 10u : 22u);
    std::vector<std::uint8_t> bytes(header, header + n);
    for (char ch : std::string("DATA 1 2")) bytes.push_back(static_cast<std::uint8_t>(ch));
    auto frame = decode_flow_frame(bytes);
    ASSERT_TRUE(frame) << frame.status().message();
    EXPECT_EQ(frame->listener, 3);
    EXPECT_EQ(frame->from.ss_family, family);
    EXPECT_EQ(std::memcmp(&frame->from, &from, frame->from_length), 0);
    EXPECT_EQ(std::string(frame->payload.begin(), frame->payload.end()), "DATA 1 2");
  }
}

TEST(FlowFrame, RefusesWhatItCannotRead) {
  EXPECT_NE(decode_flow_frame(std::vector<std::uint8_t>{1, 4}).status().message().find("too short"), std::string::npos);
  EXPECT_NE(decode_flow_frame(std::vector<std::uint8_t>{9, 4, 0, 0, 0, 0, 1, 2, 3, 4}).status().message().find("version 9"),
            std::string::npos);
  EXPECT_NE(decode_flow_frame(std::vector<std::uint8_t>{1, 5, 0, 0, 0, 0, 1, 2, 3, 4}).status().message().find("family 5"),
            std::string::npos);
  EXPECT_NE(decode_flow_frame(std::vector<std::uint8_t>{1, 6, 0, 0, 0, 0, 1, 2}).status().message().find("cut off"),
            std::string::npos);
  sockaddr unix_address{};
  unix_address.sa_family = AF_UNIX;
  std::uint8_t header[kMaxFlowFrameHeader];
  EXPECT_EQ(encode_flow_header(0, &unix_address, header), 0u) << "only IP datagrams are forwarded";
}

// Records every STEER, as the worker would see it.
struct RecordingWorker : SteerTarget {
  struct Got {
    Steer message;
    std::size_t fds = 0;
  };
  std::vector<Got> got;
  void send_steer(const Steer& m, std::span<const int> fds) override { got.push_back({m, fds.size()}); }
  std::vector<std::uint32_t> added_tags() const {
    std::vector<std::uint32_t> tags;
    for (const auto& g : got)
      for (const auto& p : g.message.added) tags.push_back(p.tag);
    return tags;
  }
};

TEST(FlowInboxes, EachWorkerLearnsEveryOtherInbox) {
  FlowInboxes steering(true);
  RecordingWorker a, b, c;
  ASSERT_TRUE(steering.join(a, 1, 0, false));
  ASSERT_TRUE(steering.join(b, 1, 1, false));
  ASSERT_TRUE(steering.join(c, 2, 0, false));
  ASSERT_EQ(a.got.size(), 3u);  // its own, then b's and c's as they came
  EXPECT_EQ(a.got[0].message.own_tag, 1u);
  EXPECT_EQ(a.got[0].fds, 1u);
  EXPECT_EQ(a.added_tags(), (std::vector<std::uint32_t>{2, 3}));
  ASSERT_EQ(c.got.size(), 1u);  // its own and the two before it, in one
  EXPECT_EQ(c.got[0].message.own_tag, 3u);
  EXPECT_EQ(c.got[0].fds, 3u);
  EXPECT_EQ(c.got[0].message.added[0].generation, 1u);
  EXPECT_EQ(c.got[0].message.fd_count(), c.got[0].fds);
  EXPECT_EQ(steering.inboxes(), 3u);

  steering.leave(a);
  EXPECT_EQ(b.got.back().message.removed, (std::vector<std::uint32_t>{1}));
  EXPECT_EQ(c.got.back().message.removed, (std::vector<std::uint32_t>{1}));
  EXPECT_EQ(steering.inboxes(), 2u);
  steering.leave(a);  // twice (exit, then destruction): nothing more
  EXPECT_EQ(b.got.size(), 3u);
}

TEST(FlowInboxes, AHandoffSuccessorTakesItsPredecessorsInboxAndTag) {
  FlowInboxes steering(true);
  RecordingWorker old0, old1, new0;
  ASSERT_TRUE(steering.join(old0, 1, 0, false));
  ASSERT_TRUE(steering.join(old1, 1, 1, false));
  ASSERT_TRUE(steering.join(new0, 2, 0, true));
  EXPECT_EQ(new0.got[0].message.own_tag, old0.got[0].message.own_tag);
  EXPECT_EQ(new0.added_tags(), (std::vector<std::uint32_t>{2}));  // not its own inbox
  EXPECT_EQ(old1.got.size(), 1u) << "nobody needs to hear of a shared inbox";
  steering.leave(old0);  // committed and exited: its successor reads the inbox
  EXPECT_EQ(old1.got.size(), 1u);
  EXPECT_EQ(steering.inboxes(), 2u);
  steering.leave(new0);
  EXPECT_EQ(old1.got.back().message.removed, (std::vector<std::uint32_t>{1}));
}

TEST(FlowInboxes, SteerRoundTripsThroughTheCodec) {
  Steer m{7, {{3, 2, 1}, {4, 2, 0}}, {1, 2}};
  auto body = encode_body(m);
  Envelope e{MessageType::kSteer, body, {}, false};
  auto back = e.as<Steer>();
  ASSERT_TRUE(back) << back.status().message();
  EXPECT_EQ(back->own_tag, 7u);
  ASSERT_EQ(back->added.size(), 2u);
  EXPECT_EQ(back->added[1].tag, 4u);
  EXPECT_EQ(back->added[1].generation, 2u);
  EXPECT_EQ(back->removed, (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(back->fd_count(), 3u);
  EXPECT_EQ(message_type_name(31), "STEER");
}

}  // namespace
}  // namespace baton
