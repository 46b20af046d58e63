// Files for tests: reading a whole one (what baton or a config says), and a
// scratch directory of a test's own.
#pragma once

#include <string>

namespace testing_support {

// The file's bytes; empty if it cannot be read.
std::string read_file(const std::string& path);

// A fresh directory /tmp/PREFIX-XXXXXX, removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "baton-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace testing_support
