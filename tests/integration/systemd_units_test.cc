// The unit files in deploy/systemd pass `systemd-analyze verify` (no error,
// no warning), with the binaries they name pointing at this build.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/command.h"
#include "support/files.h"

namespace testing_support {
namespace {

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

TEST(SystemdUnits, DeployedUnitsVerifyCleanly) {
  if (!have_program("systemd-analyze")) GTEST_SKIP() << "systemd-analyze not found: install the Debian package systemd";
  char tmpl[] = "/tmp/baton-units-XXXXXX";
  const std::filesystem::path dir = ::mkdtemp(tmpl);
  const std::filesystem::path source = std::string(BATON_SOURCE_DIR) + "/deploy/systemd";
  std::vector<std::string> args{"systemd-analyze", "verify"};
  for (const auto& entry : std::filesystem::directory_iterator(source)) {
    std::string unit = replace_all(read_file(entry.path()), "/usr/local/bin/baton", BATON_BIN);
    unit = replace_all(unit, "/usr/local/bin/kvstore", KVSTORE_BIN);
    // A template is verified as the instance its example socket names.
    std::string name = entry.path().filename();
    if (name == "baton@.service") name = "baton@kvstore.service";
    std::ofstream(dir / name) << unit;
    args.push_back(dir / name);
  }
  ASSERT_GE(args.size(), 6u) << "kvstore.service, kvstore.socket, baton@.service, baton@kvstore.socket";
  CommandResult r = run_command(args);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.err, "") << "systemd-analyze warns: " << r.describe();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace testing_support
