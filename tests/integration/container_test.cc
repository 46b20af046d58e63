// baton as PID 1 of a real container: the image from
// deploy/container/Dockerfile, built and run by podman (Debian's package)
// with runc, on a debian:12-slim base made locally by
// deploy/container/base-image.sh. The worker comes from a directory mounted
// over /srv/worker, as deploy/container/README.md tells users to do: the test
// starts with the previous release (kvstore_v1) there, copies the new one in
// and upgrades with `podman kill --signal HUP` under load.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "integration/fixture.h"
#include "support/child_process.h"
#include "support/command.h"

namespace testing_support {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kImage = "localhost/baton-kvstore:test";

CommandResult podman(std::vector<std::string> args, std::chrono::milliseconds timeout = 120s) {
  args.insert(args.begin(), {"podman", "--runtime", "runc"});
  return run_command(args, timeout);
}

// The worker directory mounted over /srv/worker: a script that leaves an
// orphan (a `sleep` whose parent exits at once, so PID 1 inherits it) and
// then execs the release it names.
class WorkerVolume {
 public:
  WorkerVolume() : dir_("/tmp/baton-container-" + std::to_string(::getpid())) {
    fs::create_directories(dir_);
    fs::permissions(dir_, fs::perms(0755));
    fs::copy_file(KVSTORE_V1_BIN, dir_ + "/kvstore-v1", fs::copy_options::overwrite_existing);
    fs::copy_file(KVSTORE_BIN, dir_ + "/kvstore-v2", fs::copy_options::overwrite_existing);
  }
  ~WorkerVolume() { fs::remove_all(dir_); }
  const std::string& dir() const { return dir_; }

  // Replaces the worker the way a deploy should: write beside it, rename over it.
  void use(const std::string& release) {
    const std::string tmp = dir_ + "/.kvstore.new";
    std::ofstream(tmp) << "#!/bin/sh\n"
                       << "sh -c 'exec sleep 600 < /dev/null > /dev/null 2>&1 &'\n"
                       << "exec /srv/worker/" << release << " \"$@\"\n";
    ::chmod(tmp.c_str(), 0755);
    fs::rename(tmp, dir_ + "/kvstore");
  }

 private:
  std::string dir_;
};

struct Process {
  long pid = 0, ppid = 0;
  std::string state, command;
};

class Container {
 public:
  Container(const WorkerVolume& volume, std::uint16_t port)
      : name_("baton-test-" + std::to_string(::getpid())) {
    auto r = podman({"run", "-d", "--name", name_, "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
                     "-p", "127.0.0.1:" + std::to_string(port) + ":8080", "-v", volume.dir() + ":/srv/worker:ro",
                     kImage});
    started_ = r.exit_code == 0;
    EXPECT_TRUE(started_) << r.describe();
  }
  ~Container() { podman({"rm", "--force", "--time", "0", name_}); }
  bool started() const { return started_; }
  const std::string& name() const { return name_; }

  CommandResult exec(std::vector<std::string> args) const {
    args.insert(args.begin(), {"exec", name_});
    return podman(args);
  }
  nlohmann::json status() const {
    auto r = exec({"baton", "status", "--json", "--name", "kvstore"});
    return r.exit_code == 0 ? nlohmann::json::parse(r.out, nullptr, false) : nlohmann::json();
  }
  // `podman top`: every process in the container, PID 1 first.
  std::vector<Process> processes() const {
    auto r = podman({"top", name_, "pid", "ppid", "state", "comm"});
    std::vector<Process> out;
    std::istringstream in(r.out);
    std::string header;
    std::getline(in, header);
    for (Process p; in >> p.pid >> p.ppid >> p.state >> p.command;) out.push_back(p);
    return out;
  }
  std::string logs() const {
    auto r = podman({"logs", name_});
    return r.out + r.err;  // baton logs to stderr
  }

 private:
  std::string name_;
  bool started_ = false;
};

std::vector<Process> orphans(const Container& c) {
  std::vector<Process> out;
  for (const auto& p : c.processes())
    if (p.command == "sleep" && p.ppid == 1) out.push_back(p);
  return out;
}

bool have_podman() { return have_program("podman") && have_program("runc") && have_program("debootstrap"); }

TEST(Container, PodmanRunsBatonAsPid1UpgradesUnderLoadAndStopsCleanly) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "the image holds a release build; the release test run covers it";
#endif
  if (!have_podman()) GTEST_SKIP() << "needs podman, runc and debootstrap: apt-get install podman runc debootstrap";
  const auto started = std::chrono::steady_clock::now();
  const std::string root = BATON_SOURCE_DIR;
  auto base = run_command({root + "/deploy/container/base-image.sh"}, 15min);
  ASSERT_EQ(base.exit_code, 0) << base.describe();
  auto build = podman({"build", "--pull=never", "--format", "docker", "-f", root + "/deploy/container/Dockerfile",
                       "-t", kImage, root},
                      20min);
  ASSERT_EQ(build.exit_code, 0) << build.describe();
  const auto built = std::chrono::steady_clock::now();

  WorkerVolume volume;
  volume.use("kvstore-v1");
  const auto port = free_local_port();
  Container c(volume, port);
  ASSERT_TRUE(c.started());
  ASSERT_TRUE(eventually([&] { return c.status().value("ready", false); })) << c.logs();
  auto top = c.processes();
  ASSERT_FALSE(top.empty());
  EXPECT_EQ(top[0].pid, 1);
  EXPECT_EQ(top[0].command, "baton") << "baton is the container's PID 1";
  auto health = podman({"healthcheck", "run", c.name()});
  EXPECT_EQ(health.exit_code, 0) << "the image's HEALTHCHECK: " << health.describe();

  // An orphan re-parented to baton is reaped once it ends: no zombie.
  ASSERT_TRUE(eventually([&] { return !orphans(c).empty(); })) << c.logs();
  const long orphan = orphans(c).front().pid;
  ASSERT_EQ(c.exec({"sh", "-c", "kill " + std::to_string(orphan)}).exit_code, 0);  // no procps in slim
  EXPECT_TRUE(eventually([&] {
    for (const auto& p : c.processes())
      if (p.pid == orphan) return false;  // still there: alive, or a zombie nobody reaped
    return true;
  })) << "orphan " << orphan << " was not reaped";
  for (const auto& p : c.processes()) EXPECT_NE(p.state, "Z") << "zombie " << p.pid << " " << p.command;

  // A new release in the volume, then SIGHUP through the runtime, under load.
  LoadClient load({.port = port, .keepalive_connections = 4, .close_connections = 2, .writes = true,
                   .max_duration = std::chrono::seconds(120)});
  ASSERT_TRUE(traffic_flows(load, 200));
  volume.use("kvstore-v2");
  ASSERT_EQ(podman({"kill", "--signal", "HUP", c.name()}).exit_code, 0);
  ASSERT_TRUE(eventually([&] {
    auto s = c.status();
    return s.value("serving_generation", 0) == 2 && s["last_upgrade"].value("result", "") == "committed";
  })) << c.logs();
  ASSERT_TRUE(traffic_flows(load, 200));
  const LoadStats stats = load.stop();
  EXPECT_EQ(stats.failed, 0u) << (stats.first_errors.empty() ? "" : stats.first_errors.front());
  expect_all_acknowledged_writes(port, stats);
  auto served = http_request(port, "GET", "/stats");
  ASSERT_TRUE(served);
  EXPECT_EQ(json_field(served->body, "generation"), 2);
  EXPECT_EQ(json_field(served->body, "state_version"), 2) << "the new release serves: " << served->body;

  // podman stop: SIGTERM, a graceful drain, exit 0 (a SIGKILL would be 137).
  auto stop = podman({"stop", "--time", "30", c.name()}, 60s);
  EXPECT_EQ(stop.exit_code, 0) << stop.describe();
  auto code = podman({"inspect", "--format", "{{.State.ExitCode}}", c.name()});
  EXPECT_EQ(code.out, "0\n") << c.logs();
  EXPECT_NE(c.logs().find("reaped orphan pid"), std::string::npos) << c.logs();

  const auto seconds = [](auto d) { return std::chrono::duration<double>(d).count(); };
  std::cout << "container: image " << seconds(built - started) << " s, run " << seconds(std::chrono::steady_clock::now() - built)
            << " s; " << stats.ok << " requests ok, " << stats.failed << " failed, " << stats.acknowledged.size()
            << " writes kept\n";
}

}  // namespace
}  // namespace testing_support
