// The memory limit of the cgroup baton runs in, and what is charged to it,
// for memory admission (core/memory_admission.h). Both cgroup versions exist
// in production: v2 (memory.max, memory.current) and v1
// (memory.limit_in_bytes, memory.usage_in_bytes; hybrid hosts mount the v1
// memory controller beside an empty v2 tree, and then v1 is the one that counts).
#pragma once

#include <optional>
#include <string>

#include "baton/status.h"
#include "memory_admission.h"

namespace baton {

// Where baton's memory cgroup is mounted: its directory, and that of the
// hierarchy's root as this mount namespace sees it (ancestors stop there).
struct MemoryCgroup {
  std::string dir;
  std::string mount;
  int version = 0;  // 1 or 2
};

// From /proc/self/cgroup and /proc/self/mountinfo; an error naming what is missing.
Result<MemoryCgroup> own_memory_cgroup();

// The tightest limit of baton's cgroup and its ancestors (a container's own
// limit, or its pod's, or its slice's), with what that cgroup holds; none
// where no limit applies or the files cannot be read.
std::optional<MemoryBudget> read_memory_budget();

}  // namespace baton
