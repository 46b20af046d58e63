#include "support/memory_cgroup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

namespace testing_support {
namespace {

std::uint64_t read_number(const std::string& path) {
  std::ifstream in(path);
  std::uint64_t v = 0;
  in >> v;
  return v;
}

bool write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  return static_cast<bool>(out);
}

// "oom_kill N" in a key-value file (v1 memory.oom_control, v2 memory.events).
std::uint64_t field(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  for (std::string k; in >> k;) {
    std::uint64_t v = 0;
    in >> v;
    if (k == key) return v;
  }
  return 0;
}

}  // namespace

std::optional<MemoryCgroup> MemoryCgroup::create(const std::string& parent, int version, std::string& why) {
  static std::atomic<int> made{0};
  const std::string dir = parent + "/baton-test-" + std::to_string(::getpid()) + "-" + std::to_string(made++);
  if (::mkdir(dir.c_str(), 0755) != 0) {
    why = "cannot make a memory cgroup at " + dir + ": " + std::strerror(errno) + " (needs root and a writable cgroup)";
    return std::nullopt;
  }
  MemoryCgroup cgroup(dir, version);
  if (::access(cgroup.file("memory.limit_in_bytes", "memory.max").c_str(), W_OK) != 0) {
    why = dir + " has no memory controller (cgroup v2 without memory in the parent's subtree_control)";
    return std::nullopt;  // its destructor removes it
  }
  return cgroup;
}

MemoryCgroup::MemoryCgroup(MemoryCgroup&& other) noexcept
    : dir_(std::exchange(other.dir_, {})), version_(other.version_) {}

MemoryCgroup::~MemoryCgroup() {
  if (dir_.empty()) return;
  // A process that has exited may leave the cgroup a moment after its parent reaped it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (::rmdir(dir_.c_str()) != 0 && errno == EBUSY && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

std::vector<std::string> MemoryCgroup::wrapper() const {
  return {"/bin/sh", "-c", "echo $$ > \"$0\" && exec \"$@\"", dir_ + "/cgroup.procs"};
}

void MemoryCgroup::set_limit(std::uint64_t bytes) const {
  write_text(file("memory.limit_in_bytes", "memory.max"), std::to_string(bytes));
}

std::uint64_t MemoryCgroup::in_use() const { return read_number(file("memory.usage_in_bytes", "memory.current")); }

void MemoryCgroup::reset_peak() const {
  if (version_ == 1) write_text(dir_ + "/memory.max_usage_in_bytes", "0");
}

std::uint64_t MemoryCgroup::peak() const { return read_number(file("memory.max_usage_in_bytes", "memory.peak")); }

std::uint64_t MemoryCgroup::oom_kills() const {
  return version_ == 1 ? field(dir_ + "/memory.oom_control", "oom_kill") : field(dir_ + "/memory.events", "oom_kill");
}

}  // namespace testing_support
