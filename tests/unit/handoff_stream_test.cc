// The handoff stream over a real socketpair, sender on a thread of its own.
#include "baton/handoff_stream.h"

#include <cereal/archives/portable_binary.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/string.hpp>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <map>
#include <thread>

#include "support/corrupting_relay.h"
#include "support/link_pair.h"
#include "support/proc.h"

namespace baton {
namespace {

using namespace std::chrono_literals;
using Store = std::map<std::string, std::string>;

using testing_support::Link;
using testing_support::soon;

void write_store(std::ostream& out, const Store& s) {
  cereal::PortableBinaryOutputArchive ar(out);
  ar(s);
}

Store big_store(std::size_t bytes) {
  Store s;
  for (std::size_t i = 0; i * 1024 < bytes; ++i) s["key" + std::to_string(i)] = std::string(1000, char('a' + i % 26));
  return s;
}

TEST(HandoffStream, StateRoundTripsInChunks) {
  Link link;
  const Store sent = big_store(1 << 20);
  std::thread sender([&] {
    auto n = send_state(link.sender, 3, [&](std::ostream& out) { write_store(out, sent); }, soon());
    EXPECT_TRUE(n) << n.status().message();
    EXPECT_GT(*n, 1'000'000u);
  });
  Store got;
  std::uint32_t seen_version = 0;
  auto n = receive_state(link.receiver, {.accepted = {2, 3}}, [&](std::istream& in, std::uint32_t v) {
    seen_version = v;
    cereal::PortableBinaryInputArchive ar(in);
    ar(got);
  }, soon());
  sender.join();
  ASSERT_TRUE(n) << n.status().message();
  EXPECT_EQ(seen_version, 3u);
  EXPECT_EQ(got, sent);
}

TEST(HandoffStream, EmptyStateIsFine) {
  Link link;
  ASSERT_TRUE(send_state(link.sender, 1, [](std::ostream&) {}, soon()));
  auto n = receive_state(link.receiver, {.accepted = {1}}, [](std::istream&, std::uint32_t) {}, soon());
  ASSERT_TRUE(n) << n.status().message();
  EXPECT_EQ(*n, 0u);
}

TEST(HandoffStream, UnacceptedVersionIsRefusedBeforeLoading) {
  Link link;
  ASSERT_TRUE(send_state(link.sender, 2, [](std::ostream& out) { out << "v2 data"; }, soon()));
  bool loaded = false;
  auto n = receive_state(link.receiver, {.accepted = {1}}, [&](std::istream&, std::uint32_t) { loaded = true; }, soon());
  ASSERT_FALSE(n);
  EXPECT_NE(n.status().message().find("state version 2 is not one this worker loads [1]"), std::string::npos);
  EXPECT_FALSE(loaded);
}

TEST(HandoffStream, CorruptionIsCaughtByTheChecksum) {
  Link link, corrupted;
  std::thread relay = testing_support::start_corrupting_relay(std::move(link.receiver), std::move(corrupted.sender),
                                                              testing_support::Corrupt::kFirstChunk);
  std::thread sender([&] { (void)send_state(link.sender, 1, [](std::ostream& out) { out << std::string(200'000, 'x'); }, soon()); });
  auto n = receive_state(corrupted.receiver, {.accepted = {1}},
                         [](std::istream& in, std::uint32_t) { in.ignore(200'000); }, soon());
  sender.join();
  link.sender = Channel();  // the relay sees the end of the stream
  relay.join();
  ASSERT_FALSE(n);
  EXPECT_NE(n.status().message().find("checksum mismatch"), std::string::npos) << n.status().message();
}

TEST(HandoffStream, TruncatedStreamFails) {
  Link link;
  ASSERT_TRUE(link.sender.send(StateBegin{1}));
  ASSERT_TRUE(link.sender.send(StateChunk{"partial"}));
  link.sender = Channel();  // the old worker died mid-send
  auto n = receive_state(link.receiver, {.accepted = {1}}, [](std::istream& in, std::uint32_t) {
    std::string s;
    in >> s;
  }, soon());
  ASSERT_FALSE(n);
  EXPECT_NE(n.status().message().find("handoff link closed"), std::string::npos) << n.status().message();
}

TEST(HandoffStream, LengthMismatchFails) {
  Link link;
  ASSERT_TRUE(link.sender.send(StateBegin{1}));
  ASSERT_TRUE(link.sender.send(StateChunk{"abc"}));
  ASSERT_TRUE(link.sender.send(StateEnd{4, 0}));
  auto n = receive_state(link.receiver, {.accepted = {1}}, [](std::istream& in, std::uint32_t) { in.ignore(3); }, soon());
  ASSERT_FALSE(n);
  EXPECT_NE(n.status().message().find("STATE_END says 4 bytes, received 3"), std::string::npos);
}

TEST(HandoffStream, OversizedStateIsRefused) {
  Link link;
  std::thread sender([&] { (void)send_state(link.sender, 1, [](std::ostream& out) { out << std::string(300'000, 'x'); }, soon()); });
  auto n = receive_state(link.receiver, {.accepted = {1}, .max_bytes = 100'000},
                         [](std::istream& in, std::uint32_t) { in.ignore(300'000); }, soon());
  ASSERT_FALSE(n);
  EXPECT_NE(n.status().message().find("exceeds the limit of 100000 bytes"), std::string::npos) << n.status().message();
  link.receiver = Channel();  // lets the sender's blocked send fail
  sender.join();
}

TEST(HandoffStream, UnreadStateIsASchemaMismatch) {
  Link link;
  ASSERT_TRUE(send_state(link.sender, 1, [](std::ostream& out) { out << "0123456789"; }, soon()));
  auto n = receive_state(link.receiver, {.accepted = {1}}, [](std::istream& in, std::uint32_t) { in.ignore(4); }, soon());
  ASSERT_FALSE(n);
  EXPECT_NE(n.status().message().find("left 6 bytes unread"), std::string::npos) << n.status().message();
}

TEST(HandoffStream, ConnectionsTravelInBatchesWithTheirBytes) {
  Link link;
  constexpr int kCount = 600;  // three batches
  std::vector<UniqueFd> owned;
  std::vector<ExportedConnection> sent;
  for (int i = 0; i < kCount; ++i) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ::close(sv[1]);
    owned.emplace_back(sv[0]);
    sent.push_back({sv[0], "GET /" + std::to_string(i), "app" + std::to_string(i), ""});
  }
  std::thread sender([&] { EXPECT_TRUE(send_connections(link.sender, sent, nullptr, soon())); });
  auto got = receive_connections(link.receiver, 10'000, nullptr, soon());
  sender.join();
  ASSERT_TRUE(got) << got.status().message();
  ASSERT_EQ(got->size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    EXPECT_EQ((*got)[i].pending, "GET /" + std::to_string(i));
    EXPECT_EQ((*got)[i].app, "app" + std::to_string(i));
    struct stat a{}, b{};
    ASSERT_EQ(::fstat(sent[i].fd, &a), 0);
    ASSERT_EQ(::fstat((*got)[i].fd.get(), &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino) << "the same socket, in order";
  }
}

TEST(HandoffStream, LargePendingBytesSplitBatchesBySize) {
  Link link;
  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  std::vector<ExportedConnection> sent;
  for (int i = 0; i < 10; ++i) sent.push_back({devnull.get(), std::string(30'000, 'p'), {}, {}});
  std::thread sender([&] { EXPECT_TRUE(send_connections(link.sender, sent, nullptr, soon())); });
  auto got = receive_connections(link.receiver, 100, nullptr, soon());
  sender.join();
  ASSERT_TRUE(got) << got.status().message();
  EXPECT_EQ(got->size(), 10u);
}

TEST(HandoffStream, PendingInputAndUnsentOutputOfAnySizeMoveWithTheirConnection) {
  // A 100 KB upload half read, and 3 MB of responses a client has not read yet.
  Link link;
  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  std::string upload(100'000, 'u'), responses(3'000'000, 'r');
  for (std::size_t i = 0; i < responses.size(); i += 997) responses[i] = static_cast<char>('a' + i % 26);
  std::vector<ExportedConnection> sent{{devnull.get(), "small", "app0", ""},
                                       {devnull.get(), upload, "app1", responses},
                                       {devnull.get(), "", "", "tail"}};
  std::thread sender([&] { EXPECT_TRUE(send_connections(link.sender, sent, nullptr, soon())); });
  auto got = receive_connections(link.receiver, 100, nullptr, soon());
  sender.join();
  ASSERT_TRUE(got) << got.status().message();
  ASSERT_EQ(got->size(), 3u);
  EXPECT_EQ((*got)[0].pending, "small");
  EXPECT_EQ((*got)[1].pending, upload);
  EXPECT_EQ((*got)[1].unsent, responses) << "in order, byte for byte";
  EXPECT_EQ((*got)[1].app, "app1");
  EXPECT_EQ((*got)[2].unsent, "tail");
}

TEST(HandoffStream, ConnectionDataForAnUnknownConnectionIsRefused) {
  Link link;
  ASSERT_TRUE(link.sender.send(ConnectionData{0, ConnectionData::kPending, "x"}));
  auto got = receive_connections(link.receiver, 100, nullptr, soon());
  ASSERT_FALSE(got);
  EXPECT_NE(got.status().message().find("CONNECTION_DATA for connection 0, but only 0 were handed over"),
            std::string::npos)
      << got.status().message();
}

TEST(HandoffStream, ApplicationDataOverItsLimitIsRefusedWithTheReason) {
  Link link;
  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  std::vector<ExportedConnection> sent{{devnull.get(), "", std::string(40'000, 'a'), ""}};
  Status st = send_connections(link.sender, sent, nullptr, soon());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error_number(), 0) << "our own limit, not a broken link: the worker reports it";
  EXPECT_NE(st.message().find("40000 bytes of application data; the limit is 32768"), std::string::npos);
}

TEST(HandoffStream, ConnectionCountMismatchFailsAndClosesFds) {
  Link link;
  int before = testing_support::open_fd_count(::getpid());
  {
    UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    std::vector<int> fds{devnull.get()};
    ASSERT_TRUE(link.sender.send(Connections{{{"", ""}}}, fds));
    ASSERT_TRUE(link.sender.send(HandoffEnd{2}));
  }
  auto got = receive_connections(link.receiver, 100, nullptr, soon());
  ASSERT_FALSE(got);
  EXPECT_NE(got.status().message().find("HANDOFF_END says 2 connections, received 1"), std::string::npos);
  EXPECT_EQ(testing_support::open_fd_count(::getpid()), before);
}

TEST(HandoffStream, TooManyConnectionsAreRefused) {
  Link link;
  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  std::vector<ExportedConnection> sent(5, ExportedConnection{devnull.get(), {}, {}, {}});
  ASSERT_TRUE(send_connections(link.sender, sent, nullptr, soon()));
  auto got = receive_connections(link.receiver, 4, nullptr, soon());
  ASSERT_FALSE(got);
  EXPECT_NE(got.status().message().find("more than 4 connections"), std::string::npos);
}

// ---- the pre-copied form: snapshot, changes, final changes -------------------

// A store's pre-copy as a worker would write it: entries, then key/erase records.
void write_entries(std::ostream& out, const Store& entries) {
  for (const auto& [k, v] : entries) out << k << '=' << v << '\n';
}
void read_entries(std::istream& in, Store& into) {
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (eq + 1 == line.size()) into.erase(line.substr(0, eq));  // "key=": deleted
    else into[line.substr(0, eq)] = line.substr(eq + 1);
  }
}

StateLoaders store_loaders(Store& into) {
  auto load = [&into](std::istream& in, std::uint32_t) { read_entries(in, into); };
  return {load, load, load};
}

TEST(HandoffStream, PrecopiedPartsApplyInOrder) {
  Link link;
  std::thread sender([&] {
    auto write = [](Store s) { return [s](std::ostream& out) { write_entries(out, s); }; };
    EXPECT_TRUE(send_state_part(link.sender, StatePart::kSnapshot, 2, write({{"a", "1"}, {"b", "2"}}), soon()));
    EXPECT_TRUE(send_state_part(link.sender, StatePart::kChanges, 2, write({{"a", "3"}, {"c", "4"}}), soon()));
    EXPECT_TRUE(send_state_part(link.sender, StatePart::kFinalChanges, 2, write({{"b", ""}}), soon()));
  });
  Store got;
  auto r = receive_state_parts(link.receiver, {.accepted = {2}}, store_loaders(got), soon());
  sender.join();
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(got, (Store{{"a", "3"}, {"c", "4"}}));
  EXPECT_EQ(r->parts, 3u);
  EXPECT_EQ(r->precopy_bytes, 16u);         // "a=1\nb=2\n" and "a=3\nc=4\n": the parts sent while serving
  EXPECT_EQ(r->bytes, r->precopy_bytes + 3);  // and "b=\n" in the pause
}

TEST(HandoffStream, OnePartFormStillLoadsThroughTheSameCall) {
  Link link;
  ASSERT_TRUE(send_state(link.sender, 1, [](std::ostream& out) { write_entries(out, {{"k", "v"}}); }, soon()));
  Store got;
  auto r = receive_state_parts(link.receiver, {.accepted = {1}}, store_loaders(got), soon());
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(got, (Store{{"k", "v"}}));
  EXPECT_EQ(r->precopy_bytes, 0u);
}

TEST(HandoffStream, PrecopyToAReceiverWithoutItsLoadersIsRefused) {
  Link link;
  ASSERT_TRUE(send_state_part(link.sender, StatePart::kSnapshot, 1, [](std::ostream&) {}, soon()));
  Store got;
  StateLoaders plain_only{[&](std::istream& in, std::uint32_t) { read_entries(in, got); }, nullptr, nullptr};
  auto r = receive_state_parts(link.receiver, {.accepted = {1}}, plain_only, soon());
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("does not load pre-copied state"), std::string::npos) << r.status().message();
}

TEST(HandoffStream, QueuedWriterNeverWaitsAndItsStreamArrivesWhole) {
  Link link;
  const Store sent = big_store(4 << 20);  // far more than the socket holds
  auto writer = StateWriter::begin(link.sender, 1, soon(), StateWriter::Sending::kQueued);
  ASSERT_TRUE(writer) << writer.status().message();
  write_store((*writer)->out(), sent);
  ASSERT_TRUE((*writer)->end());
  // Nothing has waited: the socket took what it could, the rest is queued.
  ASSERT_TRUE((*writer)->pump());
  EXPECT_GT((*writer)->queued_bytes(), 0u);
  Store got;
  std::thread receiver([&] {
    auto n = receive_state(link.receiver, {.accepted = {1}}, [&](std::istream& in, std::uint32_t) {
      cereal::PortableBinaryInputArchive ar(in);
      ar(got);
    }, soon());
    EXPECT_TRUE(n) << n.status().message();
  });
  while ((*writer)->queued_bytes() > 0) {
    ASSERT_TRUE((*writer)->pump());
    std::this_thread::yield();  // the reader drains the socket meanwhile
  }
  receiver.join();
  EXPECT_EQ(got, sent);
}

struct BadOrder {
  const char* name;
  std::vector<StatePart::Kind> kinds;
  const char* error;
};

class PrecopyOrder : public ::testing::TestWithParam<BadOrder> {};

TEST_P(PrecopyOrder, IsRefused) {
  Link link;
  for (auto kind : GetParam().kinds)
    ASSERT_TRUE(send_state_part(link.sender, kind, 1, [](std::ostream& out) { out << "k=v\n"; }, soon()));
  link.sender = Channel();  // EOF after the parts
  Store got;
  auto r = receive_state_parts(link.receiver, {.accepted = {1}}, store_loaders(got), soon());
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find(GetParam().error), std::string::npos) << r.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Parts, PrecopyOrder,
    ::testing::Values(BadOrder{"ChangesFirst", {StatePart::kChanges}, "a round of changes before the snapshot"},
                      BadOrder{"TwoSnapshots", {StatePart::kSnapshot, StatePart::kSnapshot},
                               "the snapshot after the snapshot; it comes once, first"},
                      BadOrder{"NoFinalChanges", {StatePart::kSnapshot, StatePart::kChanges},
                               "handoff link closed while waiting for STATE_PART"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(HandoffStream, APartOfAnotherVersionIsRefused) {
  Link link;
  ASSERT_TRUE(send_state_part(link.sender, StatePart::kSnapshot, 1, [](std::ostream&) {}, soon()));
  ASSERT_TRUE(send_state_part(link.sender, StatePart::kFinalChanges, 2, [](std::ostream&) {}, soon()));
  Store got;
  auto r = receive_state_parts(link.receiver, {.accepted = {1, 2}}, store_loaders(got), soon());
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("a part of version 2 after version 1"), std::string::npos)
      << r.status().message();
}

TEST(HandoffStream, CorruptedChangesAreCaughtByTheirChecksum) {
  Link link;
  auto relayed = Channel::make_pair();
  ASSERT_TRUE(relayed);
  std::thread relay = testing_support::start_corrupting_relay(
      std::move(link.receiver), std::move(relayed->first), testing_support::Corrupt::kChangesChecksum);
  std::thread sender([&] {
    auto write = [](std::ostream& out) { write_entries(out, {{"k", "v"}}); };
    EXPECT_TRUE(send_state_part(link.sender, StatePart::kSnapshot, 1, write, soon()));
    EXPECT_TRUE(send_state_part(link.sender, StatePart::kFinalChanges, 1, write, soon()));
    link.sender = Channel();
  });
  Store got;
  auto r = receive_state_parts(relayed->second, {.accepted = {1}}, store_loaders(got), soon());
  sender.join();
  relay.join();
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("receiving the final changes: state stream: checksum mismatch"),
            std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace baton
