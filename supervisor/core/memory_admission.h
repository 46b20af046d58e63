// Memory admission: before baton starts processes beside those serving (an
// upgrade's candidates, a recycle's successor in handoff mode), it checks
// that they fit in the memory limit of the cgroup it runs in, so that the
// kernel's OOM killer does not strike in the middle of an upgrade.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace baton {

// What the cgroup baton runs in allows and holds (process/cgroup_memory.h
// reads it); none where no limit applies.
struct MemoryBudget {
  std::uint64_t limit = 0;   // bytes
  std::uint64_t in_use = 0;  // bytes charged to it now (its processes, page cache)
  std::string where;         // the cgroup's file that set the limit, for messages
};

// Why new processes were not started: the figures, for the log, `baton
// status` (last_upgrade.memory) and `baton upgrade --wait`.
struct MemoryShortfall {
  std::uint64_t limit = 0;
  std::uint64_t in_use = 0;
  std::uint64_t needed = 0;  // the estimate for what would start
  unsigned headroom_percent = 0;
  std::string where;

  // "what would start needs about 300.0 MiB, but of the 600.0 MiB limit (...) 320.0 MiB
  // is in use and --memory-headroom 10% keeps 60.0 MiB free: 220.0 MiB is left"
  std::string describe() const;
};

// None when `needed` more bytes fit under the limit with `headroom_percent`
// of it kept free.
std::optional<MemoryShortfall> check_memory(const MemoryBudget& budget, std::uint64_t needed,
                                            unsigned headroom_percent);

}  // namespace baton
