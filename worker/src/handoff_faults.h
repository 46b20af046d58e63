// Where a test build makes a handoff fail on purpose. The shipped libbaton
// links no_faults.cc, whose faults are all empty; the tests' build of it
// (libbaton_faulty, tests/faults/env_faults.cc) fills them from
// LIBBATON_FAULT, so no fault hook ships.
#pragma once

#include <uv.h>

#include <functional>
#include <istream>

#include "baton/unique_fd.h"

namespace baton {

struct HandoffFaults {
  // Old side: after the application's save_state, before the state's last chunk and STATE_END leave.
  std::function<void()> after_save_state;
  // Old side, pre-copy: after the snapshot's first turn. Pre-copy goes on
  // when `go_on` is called (on `loop`).
  std::function<void(uv_loop_t* loop, std::function<void()> go_on)> hold_snapshot;
  // New side: before the application's load_state (or load_snapshot) reads anything.
  std::function<void(std::istream&)> before_load_state;
  // New side, pre-copy: before the application's load_changes reads a round.
  std::function<void(std::istream&)> before_load_changes;
  // New side: puts something between the link and the stream reader (a relay that corrupts a chunk).
  std::function<UniqueFd(UniqueFd link)> wrap_link;
  // New side: once COMMIT made it serve, with what reports it unhealthy.
  std::function<void(const std::function<void(const std::string&)>& report_unhealthy)> after_commit;
};

// One definition per build of libbaton.
HandoffFaults handoff_faults();

}  // namespace baton
