// The config file (--config, check-config): every flag has a key, a key
// means exactly what its flag means, flags win, and mistakes name the file,
// the line and the key.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "command_line.h"
#include "support/command.h"
#include "support/files.h"

namespace baton {
namespace {

// A value for every key, as TOML and as command-line words. A new flag
// without a sample here fails EveryFlagHasAKeyThatMeansTheSame.
struct Sample {
  std::string toml;
  std::vector<std::string> words;
};
const std::map<std::string, Sample>& samples() {
  static const std::map<std::string, Sample> s{
      {"listen", {R"(["a=tcp://127.0.0.1:1", "b=unix:///tmp/baton-config-test.sock?mode=0660"])",
                  {"a=tcp://127.0.0.1:1", "b=unix:///tmp/baton-config-test.sock?mode=0660"}}},
      {"workers", {"3", {"3"}}},
      {"max_generations", {"4", {"4"}}},
      {"start_nice", {"10", {"10"}}},
      {"ready_timeout", {R"("1500ms")", {"1500ms"}}},
      {"drain_timeout", {R"("2m")", {"2m"}}},
      {"kill_timeout", {R"("0s")", {"0s"}}},
      {"stop_delay", {R"("5s")", {"5s"}}},
      {"probation", {R"("2m")", {"2m"}}},
      {"watch", {"true", {"true"}}},
      {"udp_steering", {"false", {"false"}}},
      {"watch_settle", {R"("3s")", {"3s"}}},
      {"mode", {R"("handoff")", {"handoff"}}},
      {"handoff_timeout", {R"("45s")", {"45s"}}},
      {"hang_timeout", {R"("4s")", {"4s"}}},
      {"probation_check", {R"("/healthz")", {"/healthz"}}},
      {"hang_stacks", {R"("/var/tmp")", {"/var/tmp"}}},
      {"hang_signal", {R"("ABRT")", {"ABRT"}}},
      {"recycle_after", {R"("1h")", {"1h"}}},
      {"recycle_jitter", {R"("10m")", {"10m"}}},
      {"recycle_memory", {R"("512M")", {"512M"}}},
      {"memory_headroom", {"20", {"20"}}},
      {"rolling", {R"("auto")", {"auto"}}},
      {"name", {R"("svc")", {"svc"}}},
      {"control", {R"("/tmp/baton-config-test-control.sock")", {"/tmp/baton-config-test-control.sock"}}},
      {"metrics", {R"("tcp://127.0.0.1:9999")", {"tcp://127.0.0.1:9999"}}},
      {"pid_file", {R"("/tmp/baton-config-test.pid")", {"/tmp/baton-config-test.pid"}}},
      {"log_level", {R"("debug")", {"debug"}}},
      {"log_format", {R"("json")", {"json"}}},
      {"user", {R"("nobody")", {"nobody"}}},
      {"group", {R"("nogroup")", {"nogroup"}}},
      {"forward_signal", {R"(["SIGALRM", "PWR"])", {"SIGALRM", "PWR"}}},
      {"command", {R"(["/bin/echo", "--flag", "x"])", {"/bin/echo", "--flag", "x"}}},
  };
  return s;
}

class ConfigFile {
 public:
  explicit ConfigFile(const std::string& text) {
    char tmpl[] = "/tmp/baton-config-XXXXXX.toml";
    const int fd = ::mkstemps(tmpl, 5);
    ::close(fd);
    path_ = tmpl;
    std::ofstream(path_) << text;
  }
  ~ConfigFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

ParsedCommand parse(std::vector<std::string> args) {
  args.insert(args.begin(), "baton");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

// `baton run` with a flag for every sample, or with only the listener and command.
std::vector<std::string> command_line(bool every_flag) {
  std::vector<std::string> args{"run"};
  for (const auto& [key, sample] : samples()) {
    if (key == "command" || (!every_flag && key != "listen")) continue;
    std::string flag = "--" + key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    for (const auto& w : sample.words) args.push_back(flag + "=" + w);  // --watch=true too
  }
  args.push_back("--");
  for (const auto& w : samples().at("command").words) args.push_back(w);
  return args;
}

TEST(Config, EveryFlagHasAKeyThatMeansTheSame) {
  std::string toml;
  for (const auto& key : config_keys()) {
    ASSERT_TRUE(samples().count(key)) << "add a sample for the new key \"" << key << "\" to this test";
    toml += key + " = " + samples().at(key).toml + "\n";
  }
  ConfigFile file(toml);
  ParsedCommand from_file = parse({"run", "--config", file.path()});
  ParsedCommand from_flags = parse(command_line(true));
  ASSERT_EQ(from_file.command, Command::kRun);
  ASSERT_EQ(from_flags.command, Command::kRun);
  EXPECT_TRUE(from_file.options == from_flags.options);
  // And each key on its own changes what its flag changes.
  const std::string essentials =
      "listen = " + samples().at("listen").toml + "\ncommand = " + samples().at("command").toml + "\n";
  for (const auto& key : config_keys()) {
    if (key == "listen" || key == "command") continue;
    // group goes with user: it is compared against a file with the user alone.
    const std::string with = key == "group" ? essentials + "user = \"nobody\"\n" : essentials;
    ConfigFile before(with), one(with + key + " = " + samples().at(key).toml + "\n");
    ParsedCommand b = parse({"run", "--config", before.path()}), p = parse({"run", "--config", one.path()});
    ASSERT_EQ(p.command, Command::kRun) << key;
    EXPECT_FALSE(p.options == b.options) << "key \"" << key << "\" changed nothing";
  }
}

TEST(Config, FlagsWinOverTheFile) {
  ConfigFile file("listen = [\"a=tcp://127.0.0.1:1\"]\nworkers = 2\nmode = \"handoff\"\ncommand = [\"/bin/echo\"]\n");
  ParsedCommand p = parse({"run", "--config", file.path(), "--workers", "5", "--listen", "b=tcp://127.0.0.1:2",
                           "--", "/bin/true"});
  ASSERT_EQ(p.command, Command::kRun);
  EXPECT_EQ(p.options.workers, 5u);
  ASSERT_EQ(p.options.listeners.size(), 1u);
  EXPECT_EQ(p.options.listeners[0].name, "b");
  EXPECT_EQ(p.options.command, std::vector<std::string>{"/bin/true"});
  EXPECT_EQ(p.options.mode, UpgradeMode::kHandoff) << "what the flags leave alone comes from the file";
}

// The error for `baton run --config PATH`.
std::string error_for_path(const std::string& path) {
  testing::internal::CaptureStderr();
  ParsedCommand p = parse({"run", "--config", path});
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_FALSE(p.command);
  EXPECT_EQ(p.exit_code, exit_code::kUsage);
  return err;
}

// The error for a file holding `text`.
std::string error_for(const std::string& text, std::string* path = nullptr) {
  ConfigFile file(text);
  if (path) *path = file.path();
  return error_for_path(file.path());
}

TEST(Config, AnEmptyFlagValueClearsTheFilesList) {
  // The file forwards ALRM; the command line says: no extra signals.
  ConfigFile file("listen = [\"a=tcp://127.0.0.1:1\"]\nforward_signal = [\"ALRM\"]\ncommand = [\"/bin/echo\"]\n");
  ParsedCommand kept = parse({"run", "--config", file.path()});
  ASSERT_EQ(kept.command, Command::kRun);
  EXPECT_EQ(kept.options.forward_signals, (std::vector<int>{SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM}));
  for (const char* empty : {"", "none"}) {
    ParsedCommand cleared = parse({"run", "--config", file.path(), "--forward-signal", empty});
    ASSERT_EQ(cleared.command, Command::kRun) << empty;
    EXPECT_EQ(cleared.options.forward_signals, default_forward_signals()) << empty << ": the defaults stay, ALRM goes";
  }
}

TEST(Config, AFifoOrAnEndlessFileIsRefusedAtOnceByName) {
  testing_support::TempDir dir("baton-config");
  const std::string fifo = dir.path() + "/baton.toml";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // No writer ever opens it: reading it would block baton forever.
  std::string err = error_for_path(fifo);
  EXPECT_NE(err.find(fifo + ": not a regular file; give --config the path of a TOML file"), std::string::npos) << err;
  err = error_for_path("/dev/zero");
  EXPECT_NE(err.find("/dev/zero: not a regular file"), std::string::npos) << err;
  const std::string big = dir.path() + "/big.toml";
  std::ofstream(big) << std::string((1 << 20) + 1, '#');
  err = error_for_path(big);
  EXPECT_NE(err.find(big + ": larger than 1 MiB; is it baton's config file?"), std::string::npos) << err;
}

TEST(Config, MistakesNameTheFileTheLineAndTheKey) {
  std::string path;
  std::string err = error_for("listen = [\"a=tcp://127.0.0.1:1\"]\n\nworkers = 0\n", &path);
  EXPECT_EQ(err, "baton: " + path + ":3: key \"workers\": 0 is not in range 1 to 256\n");
  err = error_for("workerz = 2\n", &path);
  EXPECT_NE(err.find(path + ":1: unknown key \"workerz\"; the keys are: listen, workers,"), std::string::npos) << err;
  err = error_for("mode = \"hot\"\n", &path);
  EXPECT_NE(err.find(path + ":1: key \"mode\": hot not in {drain,handoff}"), std::string::npos) << err;
  err = error_for("drain_timeout = 1.5\n", &path);
  EXPECT_NE(err.find(path + ":1: key \"drain_timeout\" must be a string, a whole number or a list of strings"),
            std::string::npos)
      << err;
  err = error_for("listen = [\n", &path);
  EXPECT_NE(err.find(path + ":1:"), std::string::npos) << err;
  err = error_for("[listeners]\nhttp = \"tcp://127.0.0.1:1\"\n", &path);
  EXPECT_NE(err.find(path + ":1: [listeners] tables are not part of baton's config"), std::string::npos) << err;
}

TEST(Config, CheckConfigExitsZeroForAGoodFileAndTwoForABadOne) {
  ConfigFile good("listen = [\"http=tcp://127.0.0.1:8080\"]\nmode = \"handoff\"\ncommand = [\"" +
                  std::string(KVSTORE_BIN) + "\"]\n");
  auto r = testing_support::run_baton({"check-config", good.path()});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.out.find(good.path() + ": ok"), std::string::npos) << r.out;
  ConfigFile no_worker("listen = [\"http=tcp://127.0.0.1:8080\"]\ncommand = [\"/nonexistent/kvstore\"]\n");
  r = testing_support::run_baton({"check-config", no_worker.path()});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find("/nonexistent/kvstore: No such file or directory"), std::string::npos) << r.err;
  ConfigFile no_command("listen = [\"http=tcp://127.0.0.1:8080\"]\n");
  r = testing_support::run_baton({"check-config", no_command.path()});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find("set command = [\"WORKER\", ...]"), std::string::npos) << r.err;
  r = testing_support::run_baton({"check-config", "/nonexistent.toml"});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
}

TEST(Config, TheDeployExampleSetsEveryKeyAndChecksOut) {
  std::ifstream in(std::string(BATON_SOURCE_DIR) + "/deploy/baton.toml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const auto& key : config_keys())
    EXPECT_NE(text.find("\n" + key + " = "), std::string::npos) << "deploy/baton.toml does not show \"" << key << "\"";
  // Installed, the worker would be /usr/local/bin/kvstore; here it is the build's.
  const std::string installed = "\"/usr/local/bin/kvstore\"";
  text.replace(text.find(installed), installed.size(), "\"" + std::string(KVSTORE_BIN) + "\"");
  ConfigFile here(text);
  auto r = testing_support::run_baton({"check-config", here.path()});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
}

}  // namespace
}  // namespace baton
