#include "cgroup_memory.h"

#include <fstream>
#include <sstream>
#include <vector>

namespace baton {
namespace {

// Past this a limit is "none": v1 writes 2^63 rounded down to a page.
constexpr std::uint64_t kNoLimit = std::uint64_t{1} << 62;

bool has_word(const std::string& list, const std::string& word) {
  std::stringstream in(list);
  for (std::string w; std::getline(in, w, ',');)
    if (w == word) return true;
  return false;
}

// This process's cgroup path in the v1 memory hierarchy, or in v2's.
std::optional<std::string> cgroup_path(int version) {
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);) {
    const auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    if (version == 1 ? has_word(controllers, "memory") : (line.substr(0, a) == "0" && controllers.empty()))
      return line.substr(b + 1);
  }
  return std::nullopt;
}

// The mount of that hierarchy: its root within the hierarchy, and its mount point.
std::optional<std::pair<std::string, std::string>> hierarchy_mount(int version) {
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string w; fields >> w;) f.push_back(w);
    std::size_t dash = 6;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (dash + 3 >= f.size()) continue;
    const bool match = version == 1 ? f[dash + 1] == "cgroup" && has_word(f[dash + 3], "memory")
                                    : f[dash + 1] == "cgroup2";
    if (match) return std::make_pair(f[3], f[4]);
  }
  return std::nullopt;
}

std::optional<MemoryCgroup> find(int version) {
  auto path = cgroup_path(version);
  auto mount = hierarchy_mount(version);
  if (!path || !mount) return std::nullopt;
  const auto& [root, point] = *mount;
  // Inside a cgroup namespace or a bind mount the path may not start at the mount's root: then the mount is it.
  std::string rel = root == "/" ? *path : path->rfind(root, 0) == 0 ? path->substr(root.size()) : "";
  if (rel == "/") rel.clear();
  return MemoryCgroup{.dir = point + rel, .mount = point, .version = version};
}

std::optional<std::uint64_t> read_number(const std::string& file) {
  std::ifstream in(file);
  std::string text;
  if (!(in >> text) || text == "max") return std::nullopt;
  try {
    return std::stoull(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

Result<MemoryCgroup> own_memory_cgroup() {
  if (auto v1 = find(1)) return *v1;
  if (auto v2 = find(2)) return *v2;
  return Status::error("no memory cgroup found in /proc/self/cgroup and /proc/self/mountinfo");
}

std::optional<MemoryBudget> read_memory_budget() {
  auto cgroup = own_memory_cgroup();
  if (!cgroup) return std::nullopt;
  const bool v1 = cgroup->version == 1;
  std::optional<MemoryBudget> tightest;
  for (std::string dir = cgroup->dir;; dir = dir.substr(0, dir.rfind('/'))) {
    const std::string limit_file = dir + (v1 ? "/memory.limit_in_bytes" : "/memory.max");
    const auto limit = read_number(limit_file);
    const auto in_use = read_number(dir + (v1 ? "/memory.usage_in_bytes" : "/memory.current"));
    if (limit && *limit < kNoLimit && in_use) {
      const std::uint64_t left = *limit > *in_use ? *limit - *in_use : 0;
      if (!tightest || left < tightest->limit - std::min(tightest->limit, tightest->in_use))
        tightest = MemoryBudget{.limit = *limit, .in_use = *in_use, .where = limit_file};
    }
    if (dir.size() <= cgroup->mount.size()) break;
  }
  return tightest;
}

}  // namespace baton
