// The tests' build of libbaton (libbaton_faulty, kvstore_faulty): a worker
// fails its handoff on purpose when LIBBATON_FAULT says so. New side:
//   reject-schema      refuse the state as it starts loading
//   crash-mid-restore  abort() after the first byte of state
//   corrupt-state      a relay flips a byte of the checksum in transit (the check catches it)
//   crash-mid-changes  pre-copy: abort() as the first round of changes starts loading
//   corrupt-changes    pre-copy: a relay flips a byte of the first changes' checksum
//   report-unhealthy   once COMMIT made it serve, report_unhealthy() (rolled back under --probation)
// Old side:
//   crash-mid-send     abort() before the state's last chunk and STATE_END leave
//   hold-snapshot      pre-copy: stop after the snapshot's first turn, serving on,
//                      until SIGUSR2 (a test writes meanwhile, then signals)
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

#include "handoff_faults.h"
#include "support/corrupting_relay.h"

namespace baton {
namespace {

UniqueFd corrupt_in_transit(UniqueFd link, testing_support::Corrupt what) {
  auto pair = Channel::make_pair();
  if (!pair) std::abort();
  // The worker exits (killed by baton) before the relay could outlive anything it needs.
  testing_support::start_corrupting_relay(Channel(std::move(link)), std::move(pair->first), what).detach();
  return pair->second.release_fd();
}

// Holds the pre-copy until SIGUSR2; the handle closes once it fired.
void hold_until_sigusr2(uv_loop_t* loop, std::function<void()> go_on) {
  auto* signal = new uv_signal_t;
  signal->data = new std::function<void()>(std::move(go_on));
  uv_signal_init(loop, signal);
  uv_unref(reinterpret_cast<uv_handle_t*>(signal));  // a worker that is never signalled may still exit
  uv_signal_start_oneshot(signal, [](uv_signal_t* s, int) {
    auto* go = static_cast<std::function<void()>*>(s->data);
    std::fprintf(stderr, "libbaton: SIGUSR2: pre-copy goes on\n");
    (*go)();
    delete go;
    uv_close(reinterpret_cast<uv_handle_t*>(s), [](uv_handle_t* h) { delete reinterpret_cast<uv_signal_t*>(h); });
  }, SIGUSR2);
  std::fprintf(stderr, "libbaton: pre-copy held after its first turn (LIBBATON_FAULT=hold-snapshot); SIGUSR2 goes on\n");
}

}  // namespace

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
    f.wrap_link = [](UniqueFd link) { return corrupt_in_transit(std::move(link), testing_support::Corrupt::kChecksum); };
  if (fault == "corrupt-changes")
    f.wrap_link = [](UniqueFd link) {
      return corrupt_in_transit(std::move(link), testing_support::Corrupt::kChangesChecksum);
    };
  if (fault == "crash-mid-changes")
    f.before_load_changes = [](std::istream& in) {
      in.get();
      std::abort();
    };
  if (fault == "hold-snapshot") f.hold_snapshot = hold_until_sigusr2;
  if (fault == "report-unhealthy")
    f.after_commit = [](const std::function<void(const std::string&)>& report) {
      report("its health check fails (LIBBATON_FAULT=report-unhealthy)");
    };
  return f;
}

}  // namespace baton
