#include "private_memory.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

namespace baton {

std::optional<std::uint64_t> private_memory_bytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  if (!in) return std::nullopt;
  std::uint64_t kib = 0;
  bool seen = false;
  for (std::string line; std::getline(in, line);) {
    unsigned long long v = 0;
    if (std::sscanf(line.c_str(), "Private_Clean: %llu kB", &v) == 1 ||
        std::sscanf(line.c_str(), "Private_Dirty: %llu kB", &v) == 1) {
      kib += v;
      seen = true;
    }
  }
  if (!seen) return std::nullopt;
  return kib * 1024;
}

}  // namespace baton
