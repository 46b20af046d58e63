// The tests' build of libbaton (libbaton_faulty, kvstore_faulty): a worker
// fails its handoff on purpose when LIBBATON_FAULT says so. New side:
//   reject-schema      refuse the state as it starts loading
//   crash-mid-restore  abort() after the first byte of state
//   corrupt-state      a relay flips a byte of the checksum in transit (the check catches it)
// Old side:
//   crash-mid-send     abort() before the state's last chunk and STATE_END leave
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "handoff_faults.h"
#include "support/corrupting_relay.h"

namespace baton {

HandoffFaults handoff_faults() {
  const char* env = std::getenv("LIBBATON_FAULT");
  const std::string fault = env ? env : "";
  HandoffFaults f;
  if (fault == "crash-mid-send") f.after_save_state = [] { std::abort(); };
  if (fault == "reject-schema")
    f.before_load_state = [](std::istream&) {
      throw std::runtime_error("schema rejected (LIBBATON_FAULT=reject-schema)");
    };
  if (fault == "crash-mid-restore")
    f.before_load_state = [](std::istream& in) {
      in.get();
      std::abort();
    };
  if (fault == "corrupt-state")
    f.wrap_link = [](UniqueFd link) {
      auto pair = Channel::make_pair();
      if (!pair) std::abort();
      // The worker exits (killed by baton) before the relay could outlive anything it needs.
      testing_support::start_corrupting_relay(Channel(std::move(link)), std::move(pair->first),
                                              testing_support::Corrupt::kChecksum)
          .detach();
      return pair->second.release_fd();
    };
  return f;
}

}  // namespace baton
