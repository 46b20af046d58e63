// The shipped libbaton injects no faults (see handoff_faults.h).
#include "handoff_faults.h"

namespace baton {

HandoffFaults handoff_faults() { return {}; }

}  // namespace baton
