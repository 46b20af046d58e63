// Memory admission (--memory-headroom): new processes start beside the
// serving ones only if they fit under the memory limit of baton's cgroup.
// What they will need is estimated from the workers they replace: their
// private memory (in handoff mode a successor receives a copy of the state
// its predecessor holds; in drain mode new workers grow to what the old ones
// hold, so it is an upper bound).
#include <spdlog/spdlog.h>

#include "supervisor.h"

namespace baton {

std::uint64_t Supervisor::generation_memory(const Generation& gen) const {
  std::uint64_t total = 0;
  for (const auto& slot : gen.slots)
    if (slot.worker) total += slot.worker->private_memory().value_or(0);
  return total;
}

std::optional<MemoryShortfall> Supervisor::memory_shortfall(std::uint64_t needed) const {
  if (needed == 0) return std::nullopt;  // /proc would not say (another user): nothing to go by
  const auto budget = launcher_.memory_budget();
  if (!budget) return std::nullopt;
  return check_memory(*budget, needed, options_.memory_headroom);
}

}  // namespace baton
