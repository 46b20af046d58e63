// What the supervisor tells the world about its own life: systemd's notify
// socket today (systemd_notify.h), and whatever else needs to know when a
// generation serves, an upgrade starts and ends, and baton stops. Called on
// the loop's thread, after the supervisor's state has changed.
#pragma once

#include <cstdint>
#include <string>

namespace baton {

class SupervisorObserver {
 public:
  // The first generation is ready: baton serves.
  virtual void serving(std::uint64_t generation) = 0;
  // An upgrade to `candidate` begins (SIGHUP, or a queued one).
  virtual void upgrade_started(std::uint64_t candidate) = 0;
  // It ended: `committed` (the candidate serves) or not (`why`); `serving` is
  // the generation serving now, 0 if none.
  virtual void upgrade_finished(std::uint64_t candidate, std::uint64_t serving, bool committed,
                                const std::string& why) = 0;
  // A stop began: graceful or fast.
  virtual void stopping() = 0;

 protected:
  ~SupervisorObserver() = default;
};

}  // namespace baton
