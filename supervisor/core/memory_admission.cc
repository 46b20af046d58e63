#include "memory_admission.h"

#include "byte_size.h"

namespace baton {

std::optional<MemoryShortfall> check_memory(const MemoryBudget& budget, std::uint64_t needed,
                                            unsigned headroom_percent) {
  const std::uint64_t headroom = budget.limit / 100 * headroom_percent;
  const std::uint64_t usable = budget.limit > headroom ? budget.limit - headroom : 0;
  if (budget.in_use <= usable && needed <= usable - budget.in_use) return std::nullopt;
  return MemoryShortfall{.limit = budget.limit,
                         .in_use = budget.in_use,
                         .needed = needed,
                         .headroom_percent = headroom_percent,
                         .where = budget.where};
}

std::string MemoryShortfall::describe() const {
  const std::uint64_t headroom = limit / 100 * headroom_percent;
  const std::uint64_t taken = in_use + headroom;
  const std::uint64_t left = limit > taken ? limit - taken : 0;
  return "what would start needs about " + format_byte_size(needed) + ", but of the " + format_byte_size(limit) + " limit (" +
         where + ") " + format_byte_size(in_use) + " is in use and --memory-headroom " +
         std::to_string(headroom_percent) + "% keeps " + format_byte_size(headroom) + " free: " +
         format_byte_size(left) + " is left";
}

}  // namespace baton
