#include "baton/unique_fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>

namespace baton {
namespace {

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

int open_devnull() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

TEST(UniqueFd, ClosesOnDestruction) {
  int raw = open_devnull();
  { UniqueFd fd(raw); EXPECT_TRUE(fd.valid()); }
  EXPECT_FALSE(is_open(raw));
}

TEST(UniqueFd, MoveTransfersOwnership) {
  int raw = open_devnull();
  UniqueFd a(raw);
  UniqueFd b(std::move(a));
  EXPECT_FALSE(a.valid());
  EXPECT_EQ(b.get(), raw);
  UniqueFd c;
  c = std::move(b);
  EXPECT_EQ(c.get(), raw);
  EXPECT_TRUE(is_open(raw));
  c.reset();
  EXPECT_FALSE(is_open(raw));
}

TEST(UniqueFd, MoveAssignClosesThePreviousFd) {
  int first = open_devnull();
  int second = open_devnull();
  UniqueFd a(first), b(second);
  a = std::move(b);
  EXPECT_FALSE(is_open(first));
  EXPECT_TRUE(is_open(second));
}

TEST(UniqueFd, ReleaseGivesUpOwnership) {
  int raw = open_devnull();
  { UniqueFd fd(raw); EXPECT_EQ(fd.release(), raw); }
  EXPECT_TRUE(is_open(raw));
  ::close(raw);
}

}  // namespace
}  // namespace baton
