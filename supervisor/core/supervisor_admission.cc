// Memory admission (--memory-headroom): new processes start beside the
// serving ones only if they fit under the memory limit of baton's cgroup.
// What they will need is estimated from the workers they replace: their
// private memory (in handoff mode a successor receives a copy of the state
// its predecessor holds; in drain mode new workers grow to what the old ones
// hold, so it is an upper bound).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <numeric>

#include "supervisor.h"

namespace baton {

std::optional<MemoryShortfall> Supervisor::memory_shortfall(std::uint64_t needed) const {
  if (needed == 0) return std::nullopt;  // /proc would not say (another user): nothing to go by
  const auto budget = launcher_.memory_budget();
  if (!budget) return std::nullopt;
  return check_memory(*budget, needed, options_.memory_headroom);
}

// The batch size: --rolling's, or with --rolling auto the largest that fits.
// Each batch needs about what the largest workers of the serving generation
// hold; the whole generation needs all of it.
std::optional<unsigned> Supervisor::admit_upgrade(UpgradeRecord& upgrade) {
  const Generation* serving = find(serving_generation());
  if (serving == nullptr) return 0;
  std::vector<std::uint64_t> sizes;
  for (const auto& slot : serving->slots)
    if (slot.worker) sizes.push_back(slot.worker->private_memory().value_or(0));
  std::sort(sizes.begin(), sizes.end(), std::greater<>());
  const auto slots = static_cast<unsigned>(serving->slots.size());
  const bool automatic = options_.rolling == kRollingAuto;
  unsigned batch = automatic || options_.rolling == 0 ? slots : std::min(options_.rolling, slots);
  auto needed = [&](unsigned n) {
    return std::accumulate(sizes.begin(), sizes.begin() + std::min<std::size_t>(n, sizes.size()), std::uint64_t{0});
  };
  upgrade.memory = memory_shortfall(needed(batch));
  while (automatic && upgrade.memory && batch > 1) upgrade.memory = memory_shortfall(needed(--batch));
  if (upgrade.memory) {
    refuse_for_memory(upgrade);
    return std::nullopt;
  }
  if (batch < slots && !serving->executable) {
    // Only a held file can come back in the slots already replaced.
    spdlog::warn("upgrade to {}: {}'s file is not held (it was started before --rolling was set); the whole "
                 "generation is replaced at once",
                 gen_name(upgrade.candidate), gen_name(serving->number));
    return 0;
  }
  if (automatic && batch < slots)
    spdlog::info("--rolling auto: {} of {} workers at a time fit under the memory limit", batch, slots);
  return batch < slots ? batch : 0;
}

void Supervisor::refuse_for_memory(UpgradeRecord& upgrade) {
  const std::string why = "refused before starting anything: " + upgrade.memory->describe() +
                          (options_.rolling == kRollingAuto ? " (even one worker at a time)" : "") +
                          ". Free memory, raise the limit, lower --memory-headroom, or replace fewer workers at a "
                          "time (--rolling)";
  spdlog::error("upgrade to {} {}; {}", gen_name(upgrade.candidate), why, who_serves());
  finish_upgrade(UpgradeRecord::Result::kFailed, why);
}

}  // namespace baton
