#include "baton/codec.h"

#include <gtest/gtest.h>

namespace baton {
namespace {

TEST(Codec, HeaderRoundTrip) {
  std::uint8_t buf[kHeaderSize + 3] = {};
  FrameHeader h;
  h.type = static_cast<std::uint16_t>(MessageType::kWelcome);
  h.body_length = 3;
  h.fd_count = 7;
  encode_header(h, buf);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), 4), "BATN");
  auto back = decode_header(buf);
  ASSERT_TRUE(back) << back.status().message();
  EXPECT_EQ(back->type, h.type);
  EXPECT_EQ(back->body_length, 3u);
  EXPECT_EQ(back->fd_count, 7u);
}

TEST(Codec, HeaderRejectsBadInput) {
  std::uint8_t buf[kHeaderSize] = {};
  FrameHeader h;
  h.type = static_cast<std::uint16_t>(MessageType::kReady);
  encode_header(h, buf);
  EXPECT_FALSE(decode_header(std::span<const std::uint8_t>(buf, 10)));  // short

  auto broken = [&](auto mutate) {
    std::uint8_t copy[kHeaderSize];
    std::copy(buf, buf + kHeaderSize, copy);
    mutate(copy);
    return decode_header(copy).status().message();
  };
  EXPECT_NE(broken([](std::uint8_t* b) { b[0] = 'X'; }).find("magic"), std::string::npos);
  EXPECT_NE(broken([](std::uint8_t* b) { b[4] = 9; }).find("version 9"), std::string::npos);
  EXPECT_NE(broken([](std::uint8_t* b) { b[6] = 77; }).find("unknown message type 77"), std::string::npos);
  EXPECT_NE(broken([](std::uint8_t* b) { b[8] = 5; }).find("announces 5 body bytes"), std::string::npos);
  EXPECT_NE(broken([](std::uint8_t* b) { b[14] = 1; }).find("exceed the limit"), std::string::npos);
}

TEST(Codec, MessagesRoundTrip) {
  Welcome w{42, 3, {{"http", "tcp://127.0.0.1:8080"}, {"admin", "unix:///run/a.sock?mode=0660"}}, kWelcomeStandby};
  auto back = decode_body<Welcome>(encode_body(w));
  ASSERT_TRUE(back) << back.status().message();
  EXPECT_EQ(back->generation, 42u);
  EXPECT_EQ(back->worker_index, 3u);
  ASSERT_EQ(back->listeners.size(), 2u);
  EXPECT_EQ(back->listeners[1].url, "unix:///run/a.sock?mode=0660");
  EXPECT_EQ(back->flags, kWelcomeStandby);
  auto h = decode_body<Handoff>(encode_body(Handoff{Handoff::kReceiver, {1, 2}, 30'000}));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->role, Handoff::kReceiver);
  EXPECT_EQ(h->accepted_versions, (std::vector<std::uint32_t>{1, 2}));
  auto c = decode_body<Connections>(encode_body(Connections{{{"GET /", "x"}}}));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->connections[0].pending, "GET /");

  auto hello = decode_body<Hello>(encode_body(Hello{1, 1234, "kvstore"}));
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->pid, 1234u);
  EXPECT_EQ(hello->worker_name, "kvstore");
  auto drain = decode_body<Drain>(encode_body(Drain{30'000}));
  ASSERT_TRUE(drain);
  EXPECT_EQ(drain->deadline_ms, 30'000u);
  EXPECT_TRUE(decode_body<Ready>(encode_body(Ready{})));
}

TEST(Codec, BodyLayoutIsLittleEndianPortableBinary) {
  // PROTOCOL.md documents this layout byte by byte; a change here breaks workers in other languages.
  auto body = encode_body(Hello{1, 0x01020304, "ab"});
  std::vector<std::uint8_t> expected{0x01,                                       // little-endian marker
                                     1, 0, 0, 0,                                 // protocol_version u32
                                     4, 3, 2, 1,                                 // pid u32
                                     2, 0, 0, 0, 0, 0, 0, 0, 'a', 'b'};          // string: u64 length + bytes
  EXPECT_EQ(body, expected);
}

TEST(Codec, PrecopyMessagesMatchTheDocumentedLayout) {
  // PROTOCOL.md, "Pre-copy": STATE_PART snapshot is `01 00`; FEATURES and PRECOPIED are plain integers.
  EXPECT_EQ(encode_body(StatePart{StatePart::kSnapshot}), (std::vector<std::uint8_t>{0x01, 0x00}));
  EXPECT_EQ(encode_body(Features{kFeatureSendsPrecopy | kFeatureLoadsPrecopy}),
            (std::vector<std::uint8_t>{0x01, 3, 0, 0, 0}));
  EXPECT_EQ(encode_body(Precopied{0x0102, 2, 3}),
            (std::vector<std::uint8_t>{0x01, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0}));
  EXPECT_EQ(encode_body(Features{kFeatureLoadsPrecopy | kFeatureTakesConnectionsAhead}),
            (std::vector<std::uint8_t>{0x01, 6, 0, 0, 0}));
}

TEST(Codec, ConnectionsAheadMatchTheDocumentedLayout) {
  // PROTOCOL.md, "Connections lent ahead": a list of u64 ids; then entries of id, pending, app.
  EXPECT_EQ(encode_body(ConnectionsAhead{{7}}),
            (std::vector<std::uint8_t>{0x01, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(encode_body(ConnectionsById{{{7, {"GE", ""}}}}),
            (std::vector<std::uint8_t>{0x01, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0,
                                       2, 0, 0, 0, 0, 0, 0, 0, 'G', 'E', 0, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(Codec, TruncatedBodyFails) {
  auto body = encode_body(Welcome{1, 0, {{"http", "tcp://127.0.0.1:1"}}});
  for (std::size_t cut = 0; cut < body.size(); ++cut) {
    auto r = decode_body<Welcome>(std::span<const std::uint8_t>(body.data(), cut));
    EXPECT_FALSE(r) << "decoded a body cut at " << cut;
  }
}

TEST(Codec, TrailingBytesFail) {
  auto body = encode_body(Drain{5});
  body.push_back(0);
  auto r = decode_body<Drain>(body);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("unexpected bytes"), std::string::npos);
}

TEST(Codec, HugeLengthIsRefusedWithoutAllocating) {
  // A string that claims 2^40 bytes: must fail on the limit, not try to allocate a terabyte.
  std::vector<std::uint8_t> body{0x01, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0};
  auto r = decode_body<Hello>(body);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("exceeds the limit"), std::string::npos) << r.status().message();
  // Likewise a listener list of 2^32 entries.
  std::vector<std::uint8_t> w{0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0};
  EXPECT_FALSE(decode_body<Welcome>(w));
}

TEST(Codec, HandBuiltChunkMatchesCereal) {
  // The handoff's fast path writes STATE_CHUNK bodies by hand: same bytes as cereal.
  std::string data = "some state bytes";
  auto expected = encode_body(StateChunk{data});
  std::uint8_t prefix[kChunkPrefixSize];
  encode_chunk_prefix(data.size(), prefix);
  std::vector<std::uint8_t> hand(prefix, prefix + kChunkPrefixSize);
  hand.insert(hand.end(), data.begin(), data.end());
  EXPECT_EQ(hand, expected);
  auto payload = chunk_payload(expected);
  ASSERT_TRUE(payload);
  EXPECT_EQ(std::string(payload->begin(), payload->end()), data);
}

TEST(Codec, ChunkPayloadChecksItsLength) {
  auto body = encode_body(StateChunk{"abc"});
  body.push_back('d');
  EXPECT_FALSE(chunk_payload(body));
  body = encode_body(StateChunk{"abc"});
  body.pop_back();
  EXPECT_FALSE(chunk_payload(body));
  std::vector<std::uint8_t> huge{1, 0, 0, 0, 0, 0, 0, 1, 0};  // 2^48 bytes
  auto r = chunk_payload(huge);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("exceeds the limit"), std::string::npos);
  EXPECT_FALSE(chunk_payload({}));
}

TEST(Codec, BadEndianMarkerFails) {
  auto body = encode_body(Drain{5});
  body[0] = 7;
  EXPECT_FALSE(decode_body<Drain>(body));
  EXPECT_FALSE(decode_body<Drain>({}));
}

}  // namespace
}  // namespace baton
