#include "worker_handle.h"

#include <cstring>

namespace baton {

const char* state_name(WorkerState s) {
  switch (s) {
    case WorkerState::kStarting: return "starting";
    case WorkerState::kWelcomed: return "welcomed";
    case WorkerState::kStandby: return "standing by";
    case WorkerState::kHandingOff: return "handing off";
    case WorkerState::kSent: return "sent its state";
    case WorkerState::kRestored: return "restored";
    case WorkerState::kParking: return "parking";
    case WorkerState::kParked: return "parked";
    case WorkerState::kReady: return "ready";
    case WorkerState::kDraining: return "draining";
    case WorkerState::kExited: return "exited";
  }
  return "?";
}

std::string WorkerExit::describe() const {
  std::string how = signal != 0 ? std::string("killed by SIG") + sigabbrev_np(signal)
                                : "exited with status " + std::to_string(status);
  return rejected.empty() ? how : rejected + " (" + how + ")";
}

}  // namespace baton
