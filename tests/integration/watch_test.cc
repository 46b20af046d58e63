// --watch: a new worker executable upgrades by itself, once it is whole; the
// same file is never tried twice. Each step waits on baton's own log line.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "integration/fixture.h"
#include "support/command.h"
#include "support/files.h"

namespace testing_support {
namespace {

namespace fs = std::filesystem;

// Writes `bytes` to `path` (created 0755 if need be), appending or not.
void write_file(const std::string& path, const std::string& bytes, bool append = false) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
  baton::UniqueFd fd(::open(path.c_str(), flags, 0755));
  ASSERT_TRUE(fd) << path;
  ASSERT_EQ(::write(fd.get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
}

class Watch : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_);
    fs::copy_file(KVSTORE_V1_BIN, app_);
    baton_ = std::make_unique<BatonProcess>(std::vector<std::string>{
        "--watch", "--watch-settle", "200ms", "--listen", "http=tcp://127.0.0.1:0", "--", app_});
    ASSERT_TRUE(wait_serving(*baton_, 1)) << baton_->log();
    ASSERT_TRUE(baton_->wait_for("watching " + app_));
  }
  void TearDown() override {
    baton_.reset();
    fs::remove_all(dir_);
  }
  std::size_t upgrades_started() const { return baton_->count("upgrade to generation [0-9]+ started"); }

  std::string dir_ = "/tmp/baton-watch-" + std::to_string(::getpid());
  std::string app_ = dir_ + "/app";
  std::unique_ptr<BatonProcess> baton_;
};

TEST_F(Watch, HalfAFileWaitsAndARenameUpgradesExactlyOnce) {
  const std::string build = read_file(KVSTORE_BIN);
  // A copy in progress: the old file is unlinked (it runs on), the new one
  // is written in two parts with a pause longer than --watch-settle between.
  auto mark = baton_->mark();
  fs::remove(app_);
  write_file(app_, build.substr(0, build.size() / 2));
  ASSERT_TRUE(baton_->wait_for("watch: " + app_ + " changed but is not ready to run: cut short", mark))
      << baton_->log();
  EXPECT_EQ(upgrades_started(), 0u) << "half a binary never starts";
  write_file(app_, build.substr(build.size() / 2), true);
  ASSERT_TRUE(wait_serving(*baton_, 2, mark)) << baton_->log();
  EXPECT_EQ(json_field(http_request(serving_port(*baton_), "GET", "/stats")->body, "state_version"), 2)
      << "the complete new build serves";

  // A deploy by rename: written beside, renamed over. One upgrade.
  mark = baton_->mark();
  write_file(dir_ + "/app.new", read_file(KVSTORE_V1_BIN));
  fs::rename(dir_ + "/app.new", app_);
  ASSERT_TRUE(wait_serving(*baton_, 3, mark)) << baton_->log();
  ASSERT_TRUE(baton_->wait_for("generation 2 retired", mark));
  EXPECT_EQ(upgrades_started(), 2u) << baton_->log();
}

TEST_F(Watch, ABadBuildFailsOnceAndIsNotRetriedUntilTheFileChanges) {
  auto mark = baton_->mark();
  write_file(dir_ + "/app.new", "#!/bin/sh\necho 'broken build' >&2\nexit 3\n");
  fs::rename(dir_ + "/app.new", app_);
  ASSERT_TRUE(baton_->wait_for("upgrade to generation 2 failed", mark)) << baton_->log();
  // Something else changes in the directory, and the bad file is touched by
  // nothing: no second try. The next good build is the next upgrade.
  write_file(dir_ + "/unrelated", "x");
  write_file(dir_ + "/app.new", read_file(KVSTORE_BIN));
  fs::rename(dir_ + "/app.new", app_);
  ASSERT_TRUE(wait_serving(*baton_, 3, mark)) << baton_->log();
  EXPECT_EQ(upgrades_started(), 2u) << "one failed try of the bad build, one upgrade to the good one:\n"
                                    << baton_->log();
  EXPECT_EQ(baton_->count("upgrade to generation [0-9]+ failed"), 1u);
}

TEST(WatchOptions, WatchSettleIsAConfigKeyAndWatchABoolean) {
  const std::string path = "/tmp/baton-watch-config-" + std::to_string(::getpid()) + ".toml";
  std::ofstream(path) << "watch = true\nwatch_settle = \"2s\"\nlisten = [\"http=tcp://127.0.0.1:0\"]\n"
                         "command = [\"/bin/true\"]\n";
  auto r = run_baton({"check-config", path});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  std::ofstream(path) << "watch = \"maybe\"\nlisten = [\"http=tcp://127.0.0.1:0\"]\ncommand = [\"/bin/true\"]\n";
  r = run_baton({"check-config", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("key \"watch\""), std::string::npos) << r.err;
  fs::remove(path);
}

}  // namespace
}  // namespace testing_support
