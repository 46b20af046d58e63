// Connections lent ahead (CONNECTIONS_AHEAD) and named by id in the pause
// (CONNECTIONS_BY_ID), over a real socketpair.
#include "baton/connection_stream.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <set>
#include <thread>

#include "baton/handoff_stream.h"
#include "support/link_pair.h"
#include "support/proc.h"

namespace baton {
namespace {

using namespace std::chrono_literals;

using testing_support::Link;
using testing_support::soon;

// `count` client connections of an old worker: socket ends it would serve.
struct OpenSockets {
  explicit OpenSockets(int count) {
    for (int i = 0; i < count; ++i) {
      int sv[2];
      EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
      ends.emplace_back(sv[0]);
      peers.emplace_back(sv[1]);
      open.push_back({static_cast<std::uint64_t>(100 + i), sv[0]});
    }
  }
  std::vector<UniqueFd> ends, peers;
  std::vector<OpenConnection> open;
};

ino_t inode(int fd) {
  struct stat st{};
  EXPECT_EQ(::fstat(fd, &st), 0);
  return st.st_ino;
}

// Lends everything, waiting for room on the link as the worker's loop would.
void lend_all(ConnectionLender& lender, Channel& link, std::span<const OpenConnection> open) {
  for (;;) {
    auto done = lender.lend(link, open);
    ASSERT_TRUE(done) << done.status().message();
    if (*done) return;
    pollfd p{link.fd(), POLLOUT, 0};
    ASSERT_EQ(::poll(&p, 1, 30'000), 1);
  }
}

// Takes CONNECTIONS_AHEAD batches until `count` have arrived.
void take_ahead(Channel& link, AheadConnections& ahead, std::size_t count) {
  while (ahead.count() < count) {
    auto m = next_on_link(link, soon(), "CONNECTIONS_AHEAD");
    ASSERT_TRUE(m) << m.status().message();
    ASSERT_TRUE(ahead.take(*m, 10'000));
  }
}

}  // namespace

TEST(ConnectionStream, LentAheadGoByIdInThePauseAndTheRestWithTheirFds) {
  Link link;
  OpenSockets sockets(300);  // two CONNECTIONS_AHEAD batches
  ConnectionLender lender;
  AheadConnections ahead;  // no application callback: the fds wait here
  std::thread sender([&] { lend_all(lender, link.sender, sockets.open); });
  take_ahead(link.receiver, ahead, 300);
  sender.join();
  EXPECT_EQ(lender.count(), 300u);

  // In the pause: 250 still open (one with pending bytes), 50 closed meanwhile, one accepted since.
  OpenSockets newcomer(1);
  std::vector<ExportedConnection> exported;
  for (int i = 0; i < 250; ++i) exported.push_back({sockets.open[i].fd, i == 7 ? "GET /x" : "", {}, {}, sockets.open[i].id});
  exported.push_back({newcomer.open[0].fd, "PUT", "", "", 0});
  const int before = testing_support::open_fd_count(::getpid());
  std::thread pause([&] { EXPECT_TRUE(send_connections(link.sender, exported, &lender, soon())); });
  auto got = receive_connections(link.receiver, 10'000, &ahead, soon());
  pause.join();
  ASSERT_TRUE(got) << got.status().message();
  ASSERT_EQ(got->size(), 251u);
  for (int i = 0; i < 250; ++i) {
    EXPECT_EQ((*got)[i].id, sockets.open[i].id);
    EXPECT_EQ(inode((*got)[i].fd.get()), inode(sockets.open[i].fd)) << "the fd lent ahead, handed over";
  }
  EXPECT_EQ((*got)[7].pending, "GET /x");
  EXPECT_EQ((*got)[250].id, 0u) << "not lent: it came with its fd";
  EXPECT_EQ((*got)[250].pending, "PUT");
  EXPECT_EQ(inode((*got)[250].fd.get()), inode(newcomer.open[0].fd));
  EXPECT_EQ(testing_support::open_fd_count(::getpid()), before + 1) << "only the newcomer's fd arrived in the pause";
}

TEST(ConnectionStream, ThoseTheApplicationPreparedComeBackByIdWithoutAnFd) {
  Link link;
  OpenSockets sockets(5);
  ConnectionLender lender;
  std::map<std::uint64_t, UniqueFd> prepared;
  AheadConnections ahead([&](std::vector<AheadConnection> batch) {
    for (auto& c : batch) prepared.emplace(c.id, std::move(c.fd));
  });
  lend_all(lender, link.sender, sockets.open);
  take_ahead(link.receiver, ahead, 5);
  ASSERT_EQ(prepared.size(), 5u);
  EXPECT_EQ(inode(prepared.at(102).get()), inode(sockets.open[2].fd));

  std::vector<ExportedConnection> exported{{sockets.open[2].fd, "", "", "", 102}};
  ASSERT_TRUE(send_connections(link.sender, exported, &lender, soon()));
  auto got = receive_connections(link.receiver, 100, &ahead, soon());
  ASSERT_TRUE(got) << got.status().message();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].id, 102u);
  EXPECT_FALSE((*got)[0].fd) << "the application holds it already";
}

TEST(ConnectionStream, AFullLinkLendsTheRestLaterAndEachOnce) {
  Link link;
  // Fill the link the way a snapshot would, until it takes no more.
  const StateChunk filler{std::string(kMaxChunkBytes, 's')};
  Status st;
  while ((st = link.sender.send(filler, {}, Channel::kNoWait))) {
  }
  ASSERT_EQ(st.error_number(), EAGAIN);
  OpenSockets sockets(2'000);
  ConnectionLender lender;
  auto first = lender.lend(link.sender, sockets.open);
  ASSERT_TRUE(first) << first.status().message();
  EXPECT_FALSE(*first) << "a full link: nothing lent, the rest waits for room";
  EXPECT_EQ(lender.count(), 0u);

  std::set<std::uint64_t> seen;
  AheadConnections ahead([&](std::vector<AheadConnection> batch) {
    for (auto& c : batch) EXPECT_TRUE(seen.insert(c.id).second) << "lent twice: " << c.id;
  });
  std::thread sender([&] { lend_all(lender, link.sender, sockets.open); });
  while (ahead.count() < 2'000) {
    auto m = next_on_link(link.receiver, soon(), "CONNECTIONS_AHEAD");
    ASSERT_TRUE(m) << m.status().message();
    if (m->type == MessageType::kStateChunk) continue;
    ASSERT_TRUE(ahead.take(*m, 10'000));
  }
  sender.join();
  EXPECT_EQ(seen.size(), 2'000u);
  EXPECT_EQ(lender.count(), 2'000u);
}

TEST(ConnectionStream, ANameNotLentAheadOrNamedTwiceIsRefused) {
  for (const std::vector<std::uint64_t>& named : {std::vector<std::uint64_t>{999}, {100, 100}}) {
    Link link;
    OpenSockets sockets(1);
    ConnectionLender lender;
    AheadConnections ahead;
    lend_all(lender, link.sender, sockets.open);
    take_ahead(link.receiver, ahead, 1);
    ConnectionsById by_id;
    for (auto id : named) by_id.connections.push_back({id, {}});
    ASSERT_TRUE(link.sender.send(by_id));
    auto got = receive_connections(link.receiver, 100, &ahead, soon());
    ASSERT_FALSE(got);
    const std::string why = named.size() == 1 ? "names connection id 999, which was not lent ahead"
                                               : "names connection id 100 twice";
    EXPECT_NE(got.status().message().find(why), std::string::npos) << got.status().message();
  }
}

TEST(ConnectionStream, ATurnLendsAtMostWhatItIsAllowed) {
  Link link;
  OpenSockets sockets(600);
  ConnectionLender lender;
  auto first = lender.lend(link.sender, sockets.open, 253);
  ASSERT_TRUE(first);
  EXPECT_FALSE(*first) << "more remain";
  EXPECT_EQ(lender.count(), 253u) << "whole batches, up to the bound";
  auto rest = lender.lend(link.sender, sockets.open);
  ASSERT_TRUE(rest);
  EXPECT_TRUE(*rest);
  EXPECT_EQ(lender.count(), 600u);
}

TEST(ConnectionStream, LendingAClosedFdFailsWithItsErrno) {
  Link link;
  ConnectionLender lender;
  const OpenConnection closed[] = {{100, -1}};
  auto lent = lender.lend(link.sender, closed);
  ASSERT_FALSE(lent);
  EXPECT_EQ(lent.status().error_number(), EBADF) << "not a broken link: libbaton reports it";
  EXPECT_EQ(lender.count(), 0u);
}

TEST(ConnectionStream, AnIdLentTwiceOrZeroIsRefused) {
  for (std::uint64_t id : {std::uint64_t{0}, std::uint64_t{5}}) {
    Link link;
    OpenSockets sockets(2);
    std::vector<int> fds{sockets.open[0].fd, sockets.open[1].fd};
    ASSERT_TRUE(link.sender.send(ConnectionsAhead{{id == 0 ? 0u : 5u, 5}}, fds));
    AheadConnections ahead;
    auto m = next_on_link(link.receiver, soon(), "CONNECTIONS_AHEAD");
    ASSERT_TRUE(m);
    Status st = ahead.take(*m, 100);
    ASSERT_FALSE(st);
    EXPECT_NE(st.message().find(id == 0 ? "(ids are nonzero)" : "lends connection id 5 twice"), std::string::npos)
        << st.message();
  }
}

TEST(ConnectionStream, AReceiverThatDidNotAskRefusesConnectionsAhead) {
  Link link;
  OpenSockets sockets(1);
  ConnectionLender lender;
  lend_all(lender, link.sender, sockets.open);
  StateLoaders loaders;  // loads state, takes nothing ahead
  loaders.state = [](std::istream&, std::uint32_t) {};
  auto got = receive_state_parts(link.receiver, {.accepted = {1}}, loaders, soon());
  ASSERT_FALSE(got);
  EXPECT_NE(got.status().message().find("did not ask for connections ahead"), std::string::npos)
      << got.status().message();

  ASSERT_TRUE(link.sender.send(ConnectionsById{{{100, {}}}}));
  auto by_id = receive_connections(link.receiver, 100, nullptr, soon());
  ASSERT_FALSE(by_id);
  EXPECT_NE(by_id.status().message().find("no connections were lent ahead"), std::string::npos)
      << by_id.status().message();
}

}  // namespace baton
