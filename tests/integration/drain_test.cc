// How kvstore drains: no request that may be on its way is cut off.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include "integration/fixture.h"
#include "support/proc.h"

namespace testing_support {
namespace {

// Upgrades once and waits until the old worker has received DRAIN.
void upgrade_and_wait_for_drain(const BatonProcess& baton, pid_t old_pid) {
  baton.signal(SIGHUP);
  ASSERT_TRUE(wait_serving(baton, 2));
  ASSERT_TRUE(baton.wait_for("kvstore\\[" + std::to_string(old_pid) + "\\]: draining \\(DRAIN from baton\\)"))
      << baton.log();
}

TEST(Drain, IdleKeepAliveConnectionGetsItsNextRequestAnsweredWithClose) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--drain-timeout", "30s"}));
  const auto port = serving_port(baton);
  const pid_t old_pid = ready_pid(baton, 1);
  auto conn = connect_local(port);
  ASSERT_TRUE(conn);
  auto first = exchange(conn->get(), "GET", "/stats");
  ASSERT_TRUE(first) << first.status().message();
  EXPECT_FALSE(first->connection_close);

  upgrade_and_wait_for_drain(baton, old_pid);
  // The old worker does not close this idle connection under a client that
  // may be sending: it answers the next request, and says goodbye in it.
  auto second = exchange(conn->get(), "GET", "/stats");
  ASSERT_TRUE(second) << second.status().message();
  EXPECT_EQ(second->status, 200);
  EXPECT_TRUE(second->connection_close);
  EXPECT_EQ(json_field(second->body, "pid"), old_pid);
  EXPECT_NE(second->body.find("\"draining\":true"), std::string::npos);
  char byte;
  EXPECT_EQ(::recv(conn->get(), &byte, 1, 0), 0) << "then the server closes (FIN, not RST)";
  conn->reset();  // the server lingers until the client closes too
  EXPECT_TRUE(baton.wait_for("worker 1\\.0 \\(pid " + std::to_string(old_pid) + "\\) exited with status 0"));
  EXPECT_TRUE(baton.wait_for("generation 1 retired"));
}

TEST(Drain, SilentConnectionIsClosedOnlyAtTheDeadline) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--drain-timeout", "3s"}));
  const auto port = serving_port(baton);
  const pid_t old_pid = ready_pid(baton, 1);
  auto conn = connect_local(port);
  ASSERT_TRUE(conn);
  ASSERT_TRUE(exchange(conn->get(), "GET", "/healthz"));

  upgrade_and_wait_for_drain(baton, old_pid);
  char byte;
  EXPECT_EQ(::recv(conn->get(), &byte, 1, MSG_DONTWAIT), -1) << "still open right after DRAIN";
  EXPECT_EQ(errno, EAGAIN);
  // At the deadline (minus libbaton's margin) the worker closes it and exits
  // by itself, before baton would have to send SIGTERM.
  EXPECT_EQ(::recv(conn->get(), &byte, 1, 0), 0);
  EXPECT_TRUE(baton.wait_for("worker 1\\.0 \\(pid " + std::to_string(old_pid) + "\\) exited with status 0"))
      << baton.log();
  EXPECT_EQ(baton.count("sending SIGTERM"), 0u) << baton.log();
}

TEST(Drain, PipelinedRequestsAreAnsweredInOrder) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir));
  const auto port = serving_port(baton);
  auto conn = connect_local(port);
  ASSERT_TRUE(conn);
  ASSERT_TRUE(send_all(conn->get(),
                       "PUT /kv/a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none"
                       "GET /kv/a HTTP/1.1\r\nHost: x\r\n\r\n"
                       "DELETE /kv/a HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /kv/a HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string buffer;
  std::vector<std::pair<int, std::string>> got;
  for (int i = 0; i < 4; ++i) {
    auto r = read_response(conn->get(), buffer);
    ASSERT_TRUE(r) << r.status().message();
    got.emplace_back(r->status, r->body);
  }
  EXPECT_EQ(got, (std::vector<std::pair<int, std::string>>{
                     {200, "stored\n"}, {200, "one"}, {200, "deleted\n"}, {404, "not found\n"}}));
}

TEST(Drain, HalfClosedClientStillGetsItsResponse) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir));
  const auto port = serving_port(baton);
  auto conn = connect_local(port);
  ASSERT_TRUE(conn);
  ASSERT_TRUE(send_all(conn->get(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(::shutdown(conn->get(), SHUT_WR), 0);  // "that's all I will send"
  std::string buffer;
  auto r = read_response(conn->get(), buffer);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->body, "ok\n");
}

TEST(Logs, JsonFormatIsOneObjectPerLine) {
  BatonProcess baton({"--listen", "http=tcp://127.0.0.1:0", "--log-format", "json", "--", KVSTORE_BIN});
  EXPECT_TRUE(baton.wait_for(R"(^\{"time":"[0-9-]+T[0-9:.]+Z","level":"info","pid":[0-9]+,)"
                             R"re("msg":"listening http=tcp://127\.0\.0\.1:[0-9]+ \(bound here\)"\}$)re"))
      << baton.log();
}

}  // namespace
}  // namespace testing_support
