// A handoff link for unit tests: both ends of a real socketpair, and a
// deadline generous enough for a loaded machine.
#pragma once

#include <gtest/gtest.h>

#include <chrono>

#include "baton/connection_stream.h"

namespace testing_support {

inline baton::Deadline soon() { return baton::Channel::Clock::now() + std::chrono::seconds(30); }

struct Link {
  baton::Channel sender, receiver;
  Link() {
    auto p = baton::Channel::make_pair();
    EXPECT_TRUE(p);
    sender = std::move(p->first);
    receiver = std::move(p->second);
  }
};

}  // namespace testing_support
