// sd_notify against a real datagram NOTIFY_SOCKET that the test binds, the
// way systemd does for Type=notify and Type=notify-reload units.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "integration/fixture.h"
#include "support/files.h"

namespace testing_support {
namespace {

// The test's end of NOTIFY_SOCKET: a bound datagram socket in a private directory.
class NotifySocket {
 public:
  // `path` as NOTIFY_SOCKET spells it: a file path, or "@name" (abstract namespace).
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = baton::UniqueFd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), std::min(path.size(), sizeof addr.sun_path - 1));
    socklen_t length = sizeof addr;
    if (path[0] == '@') {
      addr.sun_path[0] = '\0';
      length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
    }
    EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), length), 0) << std::strerror(errno);
    timeval tv{30, 0};  // a bound, not a pace: each datagram is an event we wait for
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  // The next datagram, or "" after 30 s.
  std::string next() {
    char buf[4096];
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }

 private:
  std::string path_;
  baton::UniqueFd fd_;
};

// Starts baton with NOTIFY_SOCKET set for it alone.
std::unique_ptr<BatonProcess> start_notified(const std::vector<std::string>& args, const std::string& socket) {
  ::setenv("NOTIFY_SOCKET", socket.c_str(), 1);
  auto baton = std::make_unique<BatonProcess>(args);  // takes its environment now
  ::unsetenv("NOTIFY_SOCKET");
  return baton;
}

std::string environment_of(pid_t pid) { return read_file("/proc/" + std::to_string(pid) + "/environ"); }

TEST(Systemd, NotifiesReadyReloadingReadyAndStopping) {
  WorkerDir dir;
  const std::string path = dir.worker() + ".notify";
  NotifySocket systemd(path);
  auto baton = start_notified(baton_args(dir), path);
  const std::string ready = systemd.next();
  EXPECT_EQ(ready, "READY=1\nSTATUS=generation 1 serving\n") << baton->log();
  ASSERT_TRUE(wait_serving(*baton, 1));
  EXPECT_EQ(environment_of(ready_pid(*baton, 1)).find("NOTIFY_SOCKET"), std::string::npos)
      << "workers do not see NOTIFY_SOCKET";

  baton->signal(SIGHUP);
  const std::string reloading = systemd.next();
  EXPECT_TRUE(reloading.starts_with("RELOADING=1\nMONOTONIC_USEC=")) << reloading;
  EXPECT_NE(reloading.find("STATUS=upgrading to generation 2\n"), std::string::npos) << reloading;
  EXPECT_EQ(systemd.next(), "READY=1\nSTATUS=generation 2 serving; last upgrade to generation 2 committed\n");

  dir.use_script("exit 3");  // a bad build: the upgrade fails, and READY says so
  baton->signal(SIGHUP);
  EXPECT_TRUE(systemd.next().starts_with("RELOADING=1\n"));
  const std::string failed = systemd.next();
  EXPECT_TRUE(failed.starts_with("READY=1\nSTATUS=generation 2 serving; last upgrade to generation 3 failed: "))
      << failed;

  baton->signal(SIGTERM);
  EXPECT_EQ(systemd.next(), "STOPPING=1\nSTATUS=stopping\n");
  EXPECT_EQ(baton->wait_exit(), 0);
}

TEST(Systemd, AbstractNotifySocketWorksToo) {
  // "@name": the abstract namespace, as container managers often pass it.
  WorkerDir dir;
  const std::string name = "@baton-test-notify-" + std::to_string(::getpid());
  NotifySocket systemd(name);
  auto baton = start_notified(baton_args(dir), name);
  EXPECT_EQ(systemd.next(), "READY=1\nSTATUS=generation 1 serving\n") << baton->log();
  baton->signal(SIGTERM);
  EXPECT_EQ(systemd.next(), "STOPPING=1\nSTATUS=stopping\n");
  EXPECT_EQ(baton->wait_exit(), 0);
}

TEST(Systemd, AnUnreachableNotifySocketStopsNothing) {
  WorkerDir dir;
  auto baton = start_notified(baton_args(dir), dir.worker() + ".nobody-listens");
  ASSERT_TRUE(wait_serving(*baton, 1)) << baton->log();
  EXPECT_TRUE(baton->wait_for("could not notify systemd \\(READY=1\\)")) << baton->log();
  baton->signal(SIGTERM);
  EXPECT_EQ(baton->wait_exit(), 0);
}

}  // namespace
}  // namespace testing_support
