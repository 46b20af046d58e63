// Where a test build makes a handoff fail on purpose. The shipped libbaton
// links no_faults.cc, whose faults are all empty; the tests' build of it
// (libbaton_faulty, tests/faults/env_faults.cc) fills them from
// LIBBATON_FAULT, so no fault hook ships.
#pragma once

#include <functional>
#include <istream>

#include "baton/unique_fd.h"

namespace baton {

struct HandoffFaults {
  // Old side: after the application's save_state, before the state's last chunk and STATE_END leave.
  std::function<void()> after_save_state;
  // New side: before the application's load_state reads anything.
  std::function<void(std::istream&)> before_load_state;
  // New side: puts something between the link and the stream reader (a relay that corrupts a chunk).
  std::function<UniqueFd(UniqueFd link)> wrap_link;
};

// One definition per build of libbaton.
HandoffFaults handoff_faults();

}  // namespace baton
