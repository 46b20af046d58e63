// The supervisor's pure parts: durations, restart backoff, JSON log escaping,
// and /proc's scheduling figures.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "sched_times.h"
#include "byte_size.h"
#include "duration.h"
#include "logging.h"
#include "restart_backoff.h"
#include "socket_activation.h"

namespace baton {
namespace {

using namespace std::chrono_literals;

TEST(Duration, ParsesUnits) {
  EXPECT_EQ(*parse_duration("250ms"), 250ms);
  EXPECT_EQ(*parse_duration("10s"), 10s);
  EXPECT_EQ(*parse_duration("2m"), 120s);
  EXPECT_EQ(*parse_duration("3"), 3s);
  EXPECT_EQ(*parse_duration("6h"), 6h);
  for (const char* bad : {"", "ms", "10d", "-1s", "1.5s", "10 s"}) {
    auto r = parse_duration(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.status().message().find("like 500ms, 10s, 2m or 1h"), std::string::npos);
  }
  EXPECT_FALSE(parse_duration("99999999999m"));
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(30s), "30s");
}

TEST(ByteSize, ParsesUnitsInPowersOf1024) {
  EXPECT_EQ(*parse_byte_size("4096"), 4096u);
  EXPECT_EQ(*parse_byte_size("512M"), 512ull << 20);
  EXPECT_EQ(*parse_byte_size("512MiB"), 512ull << 20);
  EXPECT_EQ(*parse_byte_size("1.5g"), 3ull << 29);
  EXPECT_EQ(*parse_byte_size("0"), 0u);
  for (const char* bad : {"", "M", "12Q", "-1M", "1e30G"}) {
    auto r = parse_byte_size(bad);
    ASSERT_FALSE(r) << bad;
  }
  EXPECT_EQ(format_byte_size(900), "900 B");
  EXPECT_EQ(format_byte_size(512ull << 20), "512 MiB");
  EXPECT_EQ(format_byte_size(3ull << 29), "1.5 GiB");
}

TEST(SchedTimes, CountWhatAProcessRanAndNothingForOneGone) {
  auto before = baton::read_sched_times(::getpid());
  if (!before) GTEST_SKIP() << "this kernel keeps no /proc/PID/schedstat (CONFIG_SCHED_INFO)";
  // Spin until the figure shows 1 ms more on a CPU (a generous bound, not a timing).
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  auto after = before;
  while (after && after->on_cpu - before->on_cpu < 1ms && std::chrono::steady_clock::now() < give_up)
    after = baton::read_sched_times(::getpid());
  ASSERT_TRUE(after);
  EXPECT_GE(after->on_cpu - before->on_cpu, 1ms) << "10 s of spinning and not 1 ms on a CPU";
  EXPECT_GE(after->waiting, before->waiting);
  const pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(gone, nullptr, 0), gone);
  EXPECT_FALSE(baton::read_sched_times(gone));
}

TEST(RestartBackoff, DoublesUpToTheCapAndForgivesAStableWorker) {
  RestartBackoff b({.initial = 100ms, .max = 1s, .stable_after = 10s});
  auto t0 = RestartBackoff::Clock::now();
  EXPECT_EQ(b.on_crash(t0, t0 + 1s), 100ms);
  EXPECT_EQ(b.on_crash(t0, t0 + 1s), 200ms);
  EXPECT_EQ(b.on_crash(t0, t0 + 1s), 400ms);
  EXPECT_EQ(b.on_crash(t0, t0 + 1s), 800ms);
  EXPECT_EQ(b.on_crash(t0, t0 + 1s), 1s);
  EXPECT_EQ(b.on_crash(t0, t0 + 1s), 1s);
  EXPECT_EQ(b.consecutive_crashes(), 6);
  // This one ran for a minute before crashing: start over.
  EXPECT_EQ(b.on_crash(t0, t0 + 60s), 100ms);
  EXPECT_EQ(b.consecutive_crashes(), 1);
}

TEST(SocketActivation, SocketsMeantForAnotherProcessAreIgnored) {
  ::setenv("LISTEN_PID", std::to_string(::getpid() + 1).c_str(), 1);
  ::setenv("LISTEN_FDS", "1", 1);
  auto r = take_activated_sockets();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(std::getenv("LISTEN_FDS"), nullptr) << "workers must not see them";
}

TEST(SocketActivation, MalformedCountIsAnError) {
  ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
  ::setenv("LISTEN_FDS", "two", 1);
  auto r = take_activated_sockets();
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("LISTEN_FDS=\"two\""), std::string::npos);
}

TEST(JsonEscape, EscapesQuotesAndControlCharacters) {
  EXPECT_EQ(json_escape("a\"b\\c\nd\x01"), "a\\\"b\\\\c\\nd\\u0001");
}

TEST(JsonEscape, InvalidUtf8BecomesTheReplacementCharacter) {
  // A worker's ERROR text is bytes; the log line must stay valid JSON.
  EXPECT_EQ(json_escape("caf\xc3\xa9 \xff\xfe ok"), "caf\xc3\xa9 \\ufffd\\ufffd ok");
  EXPECT_EQ(json_escape("\xe2\x82"), "\\ufffd\\ufffd") << "a sequence cut short";
  EXPECT_EQ(json_escape("\xc0\xaf"), "\\ufffd\\ufffd") << "an overlong form";
  EXPECT_EQ(json_escape("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80") << "four bytes, valid";
}

TEST(Printable, KeepsWorkerTextOnOneLine) {
  // A worker's "\n" must not start a line that looks like baton's own.
  EXPECT_EQ(printable("boom\n2026-11-23 info baton[1] upgrade complete"),
            "boom\\n2026-11-23 info baton[1] upgrade complete");
  EXPECT_EQ(printable("tab\there\x1b[31m \xff"), "tab\\there\\x1b[31m \\xff");
  EXPECT_EQ(printable("caf\xc3\xa9"), "caf\xc3\xa9");
}

}  // namespace
}  // namespace baton
