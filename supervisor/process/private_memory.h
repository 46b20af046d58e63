// A process's private memory, as --recycle-memory measures it: the pages
// only it maps (Private_Clean + Private_Dirty of /proc/PID/smaps_rollup,
// Linux 4.14+). Shared libraries and memory shared with other processes do
// not count, so a worker is judged by what it alone holds (a leak, a cache).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace baton {

// None when the file cannot be read (gone, not ours, an old kernel).
std::optional<std::uint64_t> private_memory_bytes(pid_t pid);

}  // namespace baton
