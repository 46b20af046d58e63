// Memory admission's arithmetic, and reading the memory cgroup this test runs in.
#include <gtest/gtest.h>

#include <filesystem>

#include "cgroup_memory.h"
#include "memory_admission.h"

namespace baton {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;

TEST(MemoryAdmission, FitsOnlyWithTheHeadroomKeptFree) {
  const MemoryBudget budget{.limit = 1000 * kMiB, .in_use = 600 * kMiB, .where = "memory.max"};
  EXPECT_FALSE(check_memory(budget, 300 * kMiB, 10)) << "600 + 300 = the 900 usable";
  auto short_by = check_memory(budget, 301 * kMiB, 10);
  ASSERT_TRUE(short_by);
  EXPECT_EQ(short_by->needed, 301 * kMiB);
  EXPECT_EQ(short_by->describe(),
            "what would start needs about 301 MiB, but of the 1000 MiB limit (memory.max) 600 MiB is in use "
            "and --memory-headroom 10% keeps 100 MiB free: 300 MiB is left");
  EXPECT_FALSE(check_memory(budget, 400 * kMiB, 0)) << "no headroom: the whole limit";
}

TEST(MemoryAdmission, AlreadyPastTheUsableShareNothingFits) {
  const MemoryBudget budget{.limit = 1000 * kMiB, .in_use = 950 * kMiB, .where = "memory.max"};
  auto short_by = check_memory(budget, 1, 10);
  ASSERT_TRUE(short_by);
  EXPECT_NE(short_by->describe().find(": 0 B is left"), std::string::npos) << short_by->describe();
}

// The files exist where the parser says: the cgroup directory of this very process.
TEST(CgroupMemory, FindsThisProcesssOwnMemoryCgroup) {
  auto cgroup = own_memory_cgroup();
  if (!cgroup) GTEST_SKIP() << "no memory cgroup on this machine: " << cgroup.status().message();
  ASSERT_TRUE(cgroup->version == 1 || cgroup->version == 2);
  EXPECT_TRUE(std::filesystem::is_directory(cgroup->dir)) << cgroup->dir;
  EXPECT_EQ(cgroup->dir.rfind(cgroup->mount, 0), 0u) << cgroup->dir << " lies under " << cgroup->mount;
  const char* usage = cgroup->version == 1 ? "/memory.usage_in_bytes" : "/memory.current";
  EXPECT_TRUE(std::filesystem::exists(cgroup->dir + usage) || cgroup->dir == cgroup->mount)
      << cgroup->dir << usage << " (the v2 root has no memory.current)";
}

}  // namespace
}  // namespace baton
