#include "restart_backoff.h"

#include <algorithm>

namespace baton {

std::chrono::milliseconds RestartBackoff::on_crash(Clock::time_point started, Clock::time_point now) {
  if (now - started >= config_.stable_after) crashes_ = 0;
  return next_delay();
}

std::chrono::milliseconds RestartBackoff::next_delay() {
  ++crashes_;
  auto delay = config_.initial;
  for (int i = 1; i < crashes_ && delay < config_.max; ++i) delay *= 2;
  return std::min(delay, config_.max);
}

}  // namespace baton
