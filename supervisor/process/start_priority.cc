#include "start_priority.h"

#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace baton {

bool can_restore_priority() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (::syscall(SYS_capget, &header, data) == 0 && (data[CAP_SYS_NICE / 32].effective & (1u << (CAP_SYS_NICE % 32))))
    return true;
  rlimit nice{};
  return ::getrlimit(RLIMIT_NICE, &nice) == 0 && nice.rlim_cur >= 20;  // allows nice 20 - 20 = 0
}

void set_start_nice(pid_t pid, int nice) {
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(pid), nice);
  // Absent without CONFIG_SCHED_AUTOGROUP; then the process's own value is what counts.
  std::ofstream autogroup("/proc/" + std::to_string(pid) + "/autogroup");
  if (autogroup) autogroup << nice;
}

}  // namespace baton
