// --user / --group: baton binds as root (a port below 1024 included), the
// workers run as the user with its groups and no capabilities.
#include <gtest/gtest.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <fstream>
#include <map>

#include "integration/fixture.h"
#include "support/command.h"
#include "support/proc.h"

namespace testing_support {
namespace {

// "Uid:", "Gid:", "Groups:", "CapEff:", "CapAmb:" lines of /proc/PID/status.
std::map<std::string, std::string> status_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::map<std::string, std::string> out;
  for (std::string line; std::getline(in, line);) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of(" \t") + 1);
    out[line.substr(0, colon)] = value;
  }
  return out;
}

// A port below 1024 that nothing on 127.0.0.1 listens on.
std::uint16_t free_privileged_port() {
  for (std::uint16_t port = 990; port > 900; --port) {
    baton::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return port;
  }
  return 0;
}

TEST(Privileges, WorkersRunAsTheUserOnAPortBelow1024) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: baton binds as root and starts workers as --user";
  const passwd* nobody = ::getpwnam("nobody");
  const struct group* nogroup = ::getgrnam("nogroup");
  if (!nobody || !nogroup) GTEST_SKIP() << "no user nobody / group nogroup here";
  const auto port = free_privileged_port();
  ASSERT_NE(port, 0);
  BatonProcess baton({"--listen", "http=tcp://127.0.0.1:" + std::to_string(port), "--mode", "handoff", "--user",
                      "nobody", "--group", "nogroup", "--", KVSTORE_BIN});
  ASSERT_TRUE(wait_serving(baton, 1)) << baton.log();
  ASSERT_EQ(http_request(port, "PUT", "/kv/k", "v")->status, 200);
  const pid_t worker = ready_pid(baton, 1);
  auto st = status_of(worker);
  const std::string uid = std::to_string(nobody->pw_uid), gid = std::to_string(nogroup->gr_gid);
  EXPECT_EQ(st["Uid"], uid + "\t" + uid + "\t" + uid + "\t" + uid);
  EXPECT_EQ(st["Gid"], gid + "\t" + gid + "\t" + gid + "\t" + gid);
  EXPECT_EQ(st["Groups"], gid) << "the user's supplementary groups, none of root's";
  EXPECT_EQ(st["CapEff"], "0000000000000000");
  EXPECT_EQ(st["CapAmb"], "0000000000000000");
  EXPECT_EQ(status_of(baton.pid())["Uid"].substr(0, 1), "0") << "baton itself stays root";
  struct stat control {};
  ASSERT_EQ(::stat(baton.control_path().c_str(), &control), 0);
  EXPECT_EQ(control.st_uid, 0u) << "the control socket stays baton's";

  // A handoff between two unprivileged workers keeps the state.
  auto up = run_baton({"upgrade", "--wait", "--control", baton.control_path()});
  EXPECT_EQ(up.exit_code, 0) << up.describe();
  EXPECT_EQ(http_request(port, "GET", "/kv/k")->body, "v");
  auto restored = baton.wait_for("worker 2.0 \\(pid ([0-9]+)\\) restored");
  ASSERT_TRUE(restored);
  EXPECT_EQ(status_of(std::stoi(restored->groups[1]))["Uid"].substr(0, uid.size()), uid);
}

TEST(Privileges, UserNeedsRootAndAUserThatExists) {
  auto r = run_baton({"run", "--user", "no-such-user-here", "--listen", "http=tcp://127.0.0.1:0", "--", KVSTORE_BIN});
  if (::geteuid() == 0) {
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    EXPECT_NE(r.err.find("--user: no user \"no-such-user-here\" on this system"), std::string::npos) << r.err;
  }
  r = run_baton({"run", "--group", "nogroup", "--listen", "http=tcp://127.0.0.1:0", "--", KVSTORE_BIN});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find("--group goes with --user"), std::string::npos) << r.err;
  if (::geteuid() != 0 || !have_program("setpriv")) return;
  r = run_command({"setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", BATON_BIN, "run", "--user",
                   "nobody", "--listen", "http=tcp://127.0.0.1:0", "--", KVSTORE_BIN});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find("only root can start workers as another user"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace testing_support
