// A memory cgroup of a test's own, made under the one the test runs in, with
// a limit: the processes a test starts in it are charged to it, and the
// kernel's OOM killer strikes in it past its limit. Removed at the end.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace testing_support {

class MemoryCgroup {
 public:
  // Under `parent` (a memory cgroup directory, v1 or v2); nullopt and `why`
  // when it cannot be made or has no memory controller.
  static std::optional<MemoryCgroup> create(const std::string& parent, int version, std::string& why);
  MemoryCgroup(MemoryCgroup&& other) noexcept;
  MemoryCgroup& operator=(MemoryCgroup&&) = delete;
  ~MemoryCgroup();  // waits (bounded) for its processes to be gone, then removes it

  // Put in front of a command: it joins this cgroup, then execs the command
  // in place (same pid), so that everything it starts is charged here too.
  std::vector<std::string> wrapper() const;
  void set_limit(std::uint64_t bytes) const;
  std::uint64_t in_use() const;
  void reset_peak() const;     // v1: the peak starts again from now; v2: not possible (peak since creation)
  std::uint64_t peak() const;  // the most ever charged (v1 max_usage_in_bytes, v2 memory.peak)
  std::uint64_t oom_kills() const;  // processes the OOM killer ended in it
  const std::string& dir() const { return dir_; }

 private:
  MemoryCgroup(std::string dir, int version) : dir_(std::move(dir)), version_(version) {}
  std::string file(const char* v1, const char* v2) const { return dir_ + "/" + (version_ == 1 ? v1 : v2); }
  std::string dir_;
  int version_ = 0;
};

}  // namespace testing_support
