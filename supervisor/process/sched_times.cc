#include "sched_times.h"

#include <fstream>
#include <string>

namespace baton {

std::optional<SchedTimes> read_sched_times(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/schedstat");
  long long on_cpu = 0, waiting = 0;
  if (!(in >> on_cpu >> waiting)) return std::nullopt;
  return SchedTimes{std::chrono::nanoseconds(on_cpu), std::chrono::nanoseconds(waiting)};
}

}  // namespace baton
