// The handover table of `baton upgrade --self`: what one baton writes, the
// next reads back whole; a table of another version, or not a table at all,
// is refused with words that say which.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fcntl.h>

#include "handover_table.h"

namespace baton {
namespace {

HandoverTable sample() {
  HandoverTable t;
  t.written_by = "0.1.0";
  t.self_upgrades = 2;
  t.listeners = {{"http=tcp://127.0.0.1:8080", 5, false}};
  t.control = {"control=unix:///run/baton/kv.sock?mode=0600", 6, true};
  t.next_generation = 4;
  t.serving = 3;
  t.rollbacks = 1;
  HandoverWorker w{.pid = 1234, .channel_fd = 7, .out_fd = 8, .err_fd = 9, .state = "draining",
                   .uptime_seconds = 1.5, .deadline = "sigterm", .deadline_ms = 2500};
  t.generations = {{.number = 3, .role = "serving", .served = true, .slots = {{.restarts = 1, .worker = w}}},
                   {.number = 2, .role = "retiring", .slots = {{.restart_in_ms = 0}}}};
  return t;
}

UniqueFd memfd_with(const std::string& text) {
  UniqueFd fd(::memfd_create("test", MFD_CLOEXEC));
  EXPECT_EQ(::write(fd.get(), text.data(), text.size()), static_cast<ssize_t>(text.size()));
  return fd;
}

TEST(HandoverTable, ReadsBackWhatWasWrittenAndIsSealed) {
  auto fd = write_handover(sample());
  ASSERT_TRUE(fd) << fd.status().message();
  EXPECT_EQ(::write(fd->get(), "x", 1), -1) << "sealed: nobody changes it after the check";
  auto t = read_handover(fd->get());
  ASSERT_TRUE(t) << t.status().message();
  EXPECT_EQ(t->self_upgrades, 2u);
  EXPECT_EQ(t->control.spec, "control=unix:///run/baton/kv.sock?mode=0600");
  ASSERT_EQ(t->generations.size(), 2u);
  const auto& w = *t->generations[0].slots[0].worker;
  EXPECT_EQ(w.pid, 1234);
  EXPECT_EQ(w.deadline, "sigterm");
  EXPECT_EQ(w.deadline_ms, 2500);
  EXPECT_FALSE(t->generations[1].slots[0].worker.has_value());
  EXPECT_EQ(t->fds(), (std::vector<int>{5, 6, 7, 8, 9}));
}

TEST(HandoverTable, ANewerVersionIsRefusedByName) {
  auto fd = memfd_with(R"({"version": 2, "written_by": "0.3.0"})");
  auto t = read_handover(fd.get());
  ASSERT_FALSE(t);
  EXPECT_EQ(t.status().message(),
            "handover table version 2 (written by baton 0.3.0); this baton reads version 1");
}

TEST(HandoverTable, GarbageAndGapsAreRefused) {
  EXPECT_EQ(read_handover(memfd_with("not json").get()).status().message(), "the handover table is not JSON");
  auto partial = read_handover(memfd_with(R"({"version": 1, "written_by": "0.1.0"})").get());
  ASSERT_FALSE(partial);
  EXPECT_NE(partial.status().message().find("the handover table is incomplete"), std::string::npos);
}

}  // namespace
}  // namespace baton
