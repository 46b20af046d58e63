// The old worker's pre-copy (PROTOCOL.md, "Pre-copy"): the application's
// open connections lent ahead, then its snapshot, a slice per loop turn
// whenever the link has room, then rounds of changes while they shrink
// (connections opened meanwhile lent before each), all while the
// application serves. What is left goes in the pause, with send_final().
#pragma once

#include <uv.h>

#include <functional>
#include <memory>

#include "baton/handoff_stream.h"
#include "baton/uv_handle.h"
#include "baton/worker.h"
#include "handoff_faults.h"

namespace baton {

struct PrecopyTotals {
  std::uint64_t bytes = 0;  // snapshot and rounds of changes
  std::uint32_t rounds = 0;
};

// Where the connections to lend ahead come from; null: lend none.
using OpenConnections = std::function<std::vector<OpenConnection>()>;

class PrecopySender {
 public:
  // `failed_in_application`: ours to report (the snapshot threw, or lending
  // failed other than by a broken link); otherwise the link broke.
  struct Outcome {
    Status status;
    bool failed_in_application = false;
  };
  using Done = std::function<void(const Outcome&)>;

  PrecopySender(uv_loop_t* loop, Channel& link, std::uint32_t version, std::unique_ptr<StateSnapshot> snapshot,
                OpenConnections open_connections, Deadline deadline, const HandoffFaults& faults);
  ~PrecopySender();
  PrecopySender(const PrecopySender&) = delete;
  PrecopySender& operator=(const PrecopySender&) = delete;

  // Starts sending; `done` runs on the loop once the pre-copy is over.
  Status start(Done done);
  const PrecopyTotals& totals() const { return totals_; }
  // What went ahead: the pause sends those connections by id.
  const ConnectionLender& lender() const { return lender_; }
  // In the pause: the last changes (STATE_PART final). Ends the snapshot,
  // so the application stops recording changes. `after_write` runs once
  // they are written (a fault's hook); a throw from either is the application's.
  Outcome send_final(std::uint64_t& bytes, const std::function<void()>& after_write);

 private:
  static void on_writable(uv_poll_t* poll, int status, int events);
  void turn();
  bool lending();  // true while connections still wait for room on the link
  void begin_snapshot();
  void snapshot_turn();
  bool write_slices();  // false once the snapshot is complete
  bool another_round() const;
  void finish(Outcome outcome);
  void hold();

  uv_loop_t* loop_;
  Channel& link_;
  std::uint32_t version_;
  std::unique_ptr<StateSnapshot> snapshot_;
  OpenConnections open_connections_;
  ConnectionLender lender_;
  Deadline deadline_;
  const HandoffFaults& faults_;
  std::unique_ptr<StateWriter> writer_;  // the snapshot's stream, until all of it is sent
  bool snapshot_begun_ = false;           // its STATE_PART and STATE_BEGIN are sent
  bool snapshot_written_ = false;         // its STATE_END is queued
  PrecopyTotals totals_;
  std::size_t last_round_ = 0;  // changes in the previous round
  bool held_once_ = false;
  Done done_;
  UvHandle<uv_poll_t> poll_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for a fault's late callback
};

}  // namespace baton
