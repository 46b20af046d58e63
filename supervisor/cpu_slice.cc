#include "cpu_slice.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace baton {
namespace {

// The kernel's struct sched_attr (SCHED_ATTR_SIZE_VER1). glibc 2.36 has
// neither it nor the calls, and <linux/sched/types.h> clashes with <sched.h>.
struct SchedAttr {
  std::uint32_t size = sizeof(SchedAttr);
  std::uint32_t sched_policy = 0;
  std::uint64_t sched_flags = 0;
  std::int32_t sched_nice = 0;
  std::uint32_t sched_priority = 0;
  std::uint64_t sched_runtime = 0;  // for SCHED_OTHER: the slice, in ns (0: the default)
  std::uint64_t sched_deadline = 0, sched_period = 0;
  std::uint32_t sched_util_min = 0, sched_util_max = 0;
};
static_assert(sizeof(SchedAttr) == 56);

int get_attr(pid_t pid, SchedAttr& attr) {
  return static_cast<int>(::syscall(SYS_sched_getattr, pid, &attr, sizeof attr, 0));
}
int set_attr(pid_t pid, SchedAttr& attr) { return static_cast<int>(::syscall(SYS_sched_setattr, pid, &attr, 0)); }

}  // namespace

Status set_own_cpu_slice(std::chrono::microseconds slice) {
  SchedAttr attr;
  if (get_attr(0, attr) != 0) return Status::from_errno(errno, "sched_getattr");
  if (attr.sched_policy != SCHED_OTHER && attr.sched_policy != SCHED_BATCH) return Status::ok();  // not CFS/EEVDF
  attr.sched_runtime = static_cast<std::uint64_t>(std::chrono::nanoseconds(slice).count());  // 0: the default
  attr.sched_flags = 0;
  if (set_attr(0, attr) != 0) return Status::from_errno(errno, "sched_setattr (a CPU slice of " +
                                                                     std::to_string(slice.count()) + " us)");
  return Status::ok();
}

void reset_cpu_slice(pid_t pid) {
  SchedAttr attr;
  if (get_attr(pid, attr) != 0) return;  // gone: nothing to undo
  if (attr.sched_policy != SCHED_OTHER && attr.sched_policy != SCHED_BATCH) return;
  attr.sched_runtime = 0;  // the kernel's default
  attr.sched_flags = 0;
  set_attr(pid, attr);
}

}  // namespace baton
