// Why a worker was replaced by another process in its slot: counted for
// `baton status` (replacements) and /metrics (baton_worker_replacements_total).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace baton {

enum class ReplacementCause {
  kCrash,          // it exited on its own, and its slot started again
  kHang,           // --hang-timeout: ended, and its slot started again
  kUpgrade,        // a new generation took over
  kRollback,       // --probation brought the previous generation back
  kRecycleAge,     // --recycle-after
  kRecycleMemory,  // --recycle-memory
};
inline constexpr std::size_t kReplacementCauses = 6;

// "crash", "hang", "upgrade", "rollback", "recycle-age", "recycle-memory"
inline const char* cause_name(ReplacementCause c) {
  constexpr const char* kNames[kReplacementCauses] = {"crash",    "hang",        "upgrade",
                                                      "rollback", "recycle-age", "recycle-memory"};
  return kNames[static_cast<std::size_t>(c)];
}

using ReplacementCounts = std::array<std::uint64_t, kReplacementCauses>;

}  // namespace baton
