// A worker is untrusted input: it cannot make baton allocate without bound,
// hold fds it pushed at it, or act for another worker.
#include <gtest/gtest.h>
#include <signal.h>


#include "integration/fixture.h"
#include "support/proc.h"

namespace testing_support {
namespace {

// A good generation 1, then an upgrade to the helper `mode`; returns when it failed.
void upgrade_to_hostile(WorkerDir& dir, const BatonProcess& baton, const std::string& mode, const std::string& says) {
  dir.use_helper(mode);
  auto mark = baton.mark();
  baton.signal(SIGHUP);
  ASSERT_TRUE(baton.wait_for("upgrade to generation 2 failed: .*" + says, mark)) << baton.log();
  ASSERT_TRUE(baton.wait_for("generation 2 retired", mark)) << baton.log();
}

TEST(Security, HugeLengthIsRefusedWithoutAllocating) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir));
  ASSERT_TRUE(wait_serving(baton, 1));
  const long before = rss_kib(baton.pid());
  // The limit refused it before any allocation (the message is the limit's,
  // not a bad_alloc); RSS only shows nothing big happened on the way.
  upgrade_to_hostile(dir, baton, "huge-hello", "string of 1099511627776 bytes exceeds the limit of 4096");
  EXPECT_LT(rss_kib(baton.pid()) - before, 16 * 1024) << "KiB grown (sanitizer builds move a little)";
}

TEST(Security, FdsPushedAtBatonAreClosed) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir));
  ASSERT_TRUE(wait_serving(baton, 1));
  const int before = open_fd_count(baton.pid());
  upgrade_to_hostile(dir, baton, "fd-flood", "HELLO carried 253 fds; workers never send fds");
  // None of the 253 is kept. (Fewer than before is no leak: under ASan the
  // first count once caught two fds of a start-up still closing.)
  EXPECT_LE(settled_fd_count(baton.pid(), before), before) << fd_listing(baton.pid());
}

TEST(Security, AWorkerCannotActForAnother) {
  WorkerDir dir;
  BatonProcess baton(baton_args(dir, {"--workers", "2"}));
  ASSERT_TRUE(wait_serving(baton, 1));
  const pid_t good = ready_pid(baton, 1, 0);
  const pid_t victim = ready_pid(baton, 1, 1);
  // Slot 1 restarts from a binary that turns rogue after READY.
  dir.use_helper("rogue-index-1");
  auto mark = baton.mark();
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  ASSERT_TRUE(baton.wait_for("worker 1\\.1 \\(pid [0-9]+\\) rejected: protocol error: bad magic", mark)) << baton.log();
  // Its bytes spoke only for itself: worker 1.0 was never touched.
  EXPECT_EQ(baton.count("worker 1\\.0 \\(pid [0-9]+\\) (rejected|killed|exited)"), 0u) << baton.log();
  EXPECT_TRUE(process_exists(good));
  EXPECT_EQ(get_stats(baton.port()).pid, good) << "the good worker serves";
}

}  // namespace
}  // namespace testing_support
