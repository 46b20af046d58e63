#include "baton/listener_socket.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstring>
#include <filesystem>

namespace baton {
namespace {

ListenerSpec spec(const std::string& text) {
  auto s = parse_listener_spec(text);
  EXPECT_TRUE(s) << s.status().message();
  return s.value();
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("baton-test-" + std::to_string(::getpid()) + "-" + name)).string();
}

TEST(BindListener, PortZeroReportsTheChosenPort) {
  auto l = bind_listener(spec("http=tcp://127.0.0.1:0"), 16);
  ASSERT_TRUE(l) << l.status().message();
  EXPECT_NE(l->spec().port, 0);
  EXPECT_EQ(::fcntl(l->fd(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST(BindListener, PortInUseSaysWhatToDo) {
  auto first = bind_listener(spec("http=tcp://127.0.0.1:0"), 16);
  ASSERT_TRUE(first);
  auto second = bind_listener(spec("http=tcp://127.0.0.1:" + std::to_string(first->spec().port)), 16);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.status().error_number(), EADDRINUSE);
  EXPECT_NE(second.status().message().find("choose another port"), std::string::npos) << second.status().message();
}

TEST(BindListener, Ipv6AndUdp) {
  auto v6 = bind_listener(spec("tcp://[::1]:0"), 16);
  if (!v6 && v6.status().error_number() == EADDRNOTAVAIL) GTEST_SKIP() << "no IPv6 loopback here";
  ASSERT_TRUE(v6) << v6.status().message();
  auto udp = bind_listener(spec("udp://127.0.0.1:0"), 16);
  ASSERT_TRUE(udp) << udp.status().message();
  EXPECT_NE(udp->spec().port, 0);
}

TEST(BindListener, UnixSocketAppliesModeAndRemovesItsPath) {
  std::string path = temp_path("mode.sock");
  {
    auto l = bind_listener(spec("admin=unix://" + path + "?mode=0600"), 16);
    ASSERT_TRUE(l) << l.status().message();
    struct stat st{};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
  }
  EXPECT_FALSE(std::filesystem::exists(path)) << "the socket file is removed with the listener";
}

TEST(BindListener, StaleUnixSocketIsReplaced) {
  std::string path = temp_path("stale.sock");
  {
    // A socket file nobody listens on any more: what a crashed process leaves.
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path.c_str());
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  ASSERT_TRUE(std::filesystem::exists(path));
  auto l = bind_listener(spec("s=unix://" + path), 16);
  EXPECT_TRUE(l) << l.status().message();
}

TEST(BindListener, LiveUnixSocketIsNotStolen) {
  std::string path = temp_path("live.sock");
  auto first = bind_listener(spec("s=unix://" + path), 16);
  ASSERT_TRUE(first);
  auto second = bind_listener(spec("s=unix://" + path), 16);
  ASSERT_FALSE(second);
  EXPECT_NE(second.status().message().find("in use by a running process"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(path));
}

TEST(BindListener, RegularFileIsNotDeleted) {
  std::string path = temp_path("regular");
  { UniqueFd fd(::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600)); }
  auto l = bind_listener(spec("s=unix://" + path), 16);
  ASSERT_FALSE(l);
  EXPECT_NE(l.status().message().find("is not a socket"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(path));
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace baton
