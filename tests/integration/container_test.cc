// baton as PID 1 of a real container: the image from
// deploy/container/Dockerfile, built and run by podman (Debian's package)
// with runc, on a debian:12-slim base made locally by
// deploy/container/base-image.sh. The worker comes from a directory mounted
// over /srv/worker, as deploy/container/README.md tells users to do: the test
// starts with the previous release (kvstore_v1) there, copies the new one in
// and upgrades with `podman kill --signal HUP` under load.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "duration.h"

#include "integration/fixture.h"
#include "support/child_process.h"
#include "support/command.h"
#include "support/files.h"

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

// A worker's orphan re-parented to baton (PID 1) is reaped once it ends: no zombie.
void expect_orphan_reaped(const Container& c) {
  ASSERT_TRUE(eventually([&] { return !orphans(c).empty(); })) << c.logs();
  const long orphan = orphans(c).front().pid;
  ASSERT_EQ(c.exec({"sh", "-c", "kill " + std::to_string(orphan)}).exit_code, 0);  // no procps in slim
  EXPECT_TRUE(eventually([&] {
    for (const auto& p : c.processes())
      if (p.pid == orphan) return false;  // still there: alive, or a zombie nobody reaped
    return true;
  })) << "orphan " << orphan << " was not reaped";
  for (const auto& p : c.processes()) EXPECT_NE(p.state, "Z") << "zombie " << p.pid << " " << p.command;
}

// Unused in the ASan build, which skips these tests (below).
[[maybe_unused]] bool have_podman() {
  return have_program("podman") && have_program("runc") && have_program("debootstrap");
}

// Makes the base image if it is missing and builds kImage (from podman's
// layer cache when the sources did not change). Tests running side by side
// take turns, so the second one finds the first one's layers.
::testing::AssertionResult build_image() {
  const std::string root = BATON_SOURCE_DIR;
  baton::UniqueFd lock(::open("/tmp/baton-container-image.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock || ::flock(lock.get(), LOCK_EX) != 0) return ::testing::AssertionFailure() << "cannot lock the image build";
  auto base = run_command({root + "/deploy/container/base-image.sh"}, 15min);
  if (base.exit_code != 0) return ::testing::AssertionFailure() << base.describe();
  auto build = podman({"build", "--pull=never", "--format", "docker", "--ulimit", "nofile=4096:4096", "--ulimit",
                       "nproc=4096:4096", "-f", root + "/deploy/container/Dockerfile", "-t", kImage, root},
                      20min);
  if (build.exit_code != 0) return ::testing::AssertionFailure() << build.describe();
  return ::testing::AssertionSuccess();
}

#if defined(__SANITIZE_ADDRESS__)
#define SKIP_UNLESS_PODMAN() GTEST_SKIP() << "the image holds a release build; the release test run covers it"
#else
#define SKIP_UNLESS_PODMAN() \
  if (!have_podman()) GTEST_SKIP() << "needs podman, runc and debootstrap: apt-get install podman runc debootstrap"
#endif

TEST(Container, PodmanRunsBatonAsPid1UpgradesUnderLoadAndStopsCleanly) {
  SKIP_UNLESS_PODMAN();
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(build_image());
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

  expect_orphan_reaped(c);

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

// deploy/kubernetes/kvstore.yaml as `podman kube play` can run it here: one
// replica of the image just built, ports published on 127.0.0.1 only.
std::string manifest_for_podman(std::uint16_t http, std::uint16_t admin) {
  std::string yaml = read_file(std::string(BATON_SOURCE_DIR) + "/deploy/kubernetes/kvstore.yaml");
  const auto replace = [&](const std::string& from, const std::string& to) {
    const auto at = yaml.find(from);
    EXPECT_NE(at, std::string::npos) << "the manifest no longer has: " << from;
    if (at != std::string::npos) yaml.replace(at, from.size(), to);
  };
  const std::string indent = "\n              ";
  replace("replicas: 3", "replicas: 1");
  replace("image: localhost/baton-kvstore:latest", "image: " + kImage);
  replace("containerPort: 8080", "containerPort: 8080" + indent + "hostIP: 127.0.0.1" + indent +
                                     "hostPort: " + std::to_string(http));
  replace("containerPort: 9100", "containerPort: 9100" + indent + "hostIP: 127.0.0.1" + indent +
                                     "hostPort: " + std::to_string(admin));
  return yaml;
}

// The first match of `pattern`'s group 1 in FILE (under the source tree).
std::string find_in(const std::string& file, const std::string& pattern) {
  std::smatch m;
  const std::string s = read_file(std::string(BATON_SOURCE_DIR) + "/" + file);
  return std::regex_search(s, m, std::regex(pattern)) ? m[1].str() : "";
}

// podman does not apply terminationGracePeriodSeconds, so this checks the
// arithmetic the manifest's comment states, against the files themselves.
TEST(Container, KubernetesGracePeriodCoversTheWholeStop) {
  const std::string yaml = "deploy/kubernetes/kvstore.yaml", toml = "deploy/container/baton.toml";
  std::chrono::milliseconds stop{std::stoi(find_in(yaml, R"re(command: \["/bin/sleep", "([0-9]+)"\])re")) * 1000};
  for (const char* key : {"stop_delay", "drain_timeout", "kill_timeout"}) {
    auto d = baton::parse_duration(find_in(toml, std::string("\n") + key + R"re( *= *"([^"]+)")re"));
    ASSERT_TRUE(d) << key << " in " << toml;
    stop += *d;
  }
  const int grace = std::stoi(find_in(yaml, "terminationGracePeriodSeconds: ([0-9]+)"));
  EXPECT_GT(std::chrono::seconds(grace), stop) << "raise terminationGracePeriodSeconds in " << yaml;
}

TEST(Container, KubePlayRunsTheKubernetesManifest) {
  SKIP_UNLESS_PODMAN();
  ASSERT_TRUE(build_image());
  const std::string dir = "/tmp/baton-kube-" + std::to_string(::getpid());
  fs::create_directories(dir);
  const auto http = free_local_port(), admin = free_local_port();
  std::ofstream(dir + "/kvstore.yaml") << manifest_for_podman(http, admin);
  // What the CI machines need (runc, explicit limits), as podman's config.
  std::ofstream(dir + "/containers.conf")
      << "[containers]\ndefault_ulimits = [\"nofile=4096:4096\", \"nproc=4096:4096\"]\n[engine]\nruntime = \"runc\"\n";
  const std::vector<std::string> kube{"env", "CONTAINERS_CONF=" + dir + "/containers.conf", "podman", "kube"};
  const auto kube_run = [&](const std::string& verb) {
    auto argv = kube;
    argv.insert(argv.end(), {verb, dir + "/kvstore.yaml"});
    return run_command(argv, 120s);
  };
  kube_run("down");  // a pod left by an earlier run that was killed
  auto play = kube_run("play");
  ASSERT_EQ(play.exit_code, 0) << play.describe();

  // What the probes ask, on the ports they name.
  ASSERT_TRUE(eventually([&] {
    auto r = http_request(admin, "GET", "/readyz");
    return r && r->status == 200;
  })) << podman({"logs", "kvstore-pod-0-kvstore"}).err;
  EXPECT_EQ(http_request(admin, "GET", "/healthz")->status, 200);
  EXPECT_EQ(http_request(http, "GET", "/")->status, 200);

  const std::string ctr = "kvstore-pod-0-kvstore";
  EXPECT_EQ(podman({"exec", ctr, "id", "-u"}).out, "10001\n") << "runAsUser";
  EXPECT_NE(podman({"exec", ctr, "sh", "-c", "echo > /usr/x"}).exit_code, 0) << "readOnlyRootFilesystem";
  EXPECT_EQ(podman({"exec", ctr, "baton", "status", "--ready", "--name", "kvstore"}).exit_code, 0)
      << "the control socket lives on the /tmp emptyDir";
  EXPECT_EQ(podman({"exec", ctr, "/bin/sleep", "0"}).exit_code, 0) << "the preStop command exists in the image";
  auto stop = podman({"pod", "stop", "kvstore-pod-0"}, 60s);
  EXPECT_EQ(stop.exit_code, 0) << stop.describe();
  EXPECT_EQ(podman({"inspect", "--format", "{{.State.ExitCode}}", ctr}).out, "0\n") << "a graceful stop";
  EXPECT_EQ(kube_run("down").exit_code, 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace testing_support
