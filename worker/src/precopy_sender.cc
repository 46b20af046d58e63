#include "precopy_sender.h"

#include <cerrno>
#include <limits>
#include <string>

namespace baton {
namespace {

constexpr std::uint64_t kBytesPerTurn = 256 * 1024;  // then the loop serves again
constexpr std::uint32_t kMaxRounds = 8;
constexpr std::size_t kFewEnoughForThePause = 64;  // changed entries
// Connections lent per loop turn (about 0.5 ms of SCM_RIGHTS), then the loop serves again.
constexpr std::size_t kLentPerTurn = 4 * kMaxConnectionsPerBatch;

// Sends one part; a throw from `write` is the application's unless the link broke first.
PrecopySender::Outcome send_part(Channel& link, StatePart::Kind kind, std::uint32_t version,
                                 const std::function<void(std::ostream&)>& write, Deadline deadline,
                                 std::uint64_t& bytes) {
  bool threw = false;
  auto r = send_state_part(link, kind, version, [&](std::ostream& out) {
    try {
      write(out);
    } catch (...) {
      threw = true;
      throw;
    }
  }, deadline);
  if (!r) return {r.status(), threw && r.status().error_number() == 0};
  bytes = *r;
  return {Status::ok()};
}

}  // namespace

PrecopySender::PrecopySender(uv_loop_t* loop, Channel& link, std::uint32_t version,
                             std::unique_ptr<StateSnapshot> snapshot, OpenConnections open_connections,
                             Deadline deadline, const HandoffFaults& faults)
    : loop_(loop), link_(link), version_(version), snapshot_(std::move(snapshot)),
      open_connections_(std::move(open_connections)), deadline_(deadline), faults_(faults) {}

PrecopySender::~PrecopySender() { *alive_ = false; }

Status PrecopySender::start(Done done) {
  done_ = std::move(done);
  if (Status st = poll_.init(loop_, uv_poll_init, this, link_.fd()); !st) return st;
  uv_poll_start(poll_.get(), UV_WRITABLE, on_writable);
  return Status::ok();
}

void PrecopySender::on_writable(uv_poll_t* poll, int, int) {
  // An error on the link (the successor died) shows as a failed send in turn().
  if (auto* self = static_cast<PrecopySender*>(poll->data)) self->turn();
}

// The link has room: a turn of the snapshot, or one round of changes.
// Between parts, connections opened since the last turn are lent first.
void PrecopySender::turn() {
  if (Channel::Clock::now() >= deadline_) return finish({Status::error("pre-copy not done by the handoff's deadline")});
  if (writer_) return snapshot_turn();
  if (lending()) return;
  if (!snapshot_begun_) return begin_snapshot();
  if (!another_round()) return finish({Status::ok()});
  last_round_ = snapshot_->changed();
  std::uint64_t bytes = 0;
  Outcome sent = send_part(link_, StatePart::kChanges, version_,
                           [this](std::ostream& out) { snapshot_->write_changes(out); }, deadline_, bytes);
  if (!sent.status) return finish(std::move(sent));
  totals_.bytes += bytes;
  ++totals_.rounds;
}

bool PrecopySender::lending() {
  if (!open_connections_) return false;
  auto all_lent = lender_.lend(link_, open_connections_(), kLentPerTurn);
  if (!all_lent) {
    // A broken link is the successor's failure; anything else (an fd that
    // is not open, too many fds in flight) is ours to report, so baton
    // rolls back now rather than at the handoff's deadline.
    const int e = all_lent.status().error_number();
    finish({all_lent.status().with_context("lending connections ahead"), e != EPIPE && e != ECONNRESET});
    return true;
  }
  return !*all_lent;
}

void PrecopySender::begin_snapshot() {
  snapshot_begun_ = true;
  if (Status st = link_.send(StatePart{StatePart::kSnapshot}, {}, deadline_); !st)
    return finish({st.with_context("STATE_PART")});
  auto writer = StateWriter::begin(link_, version_, deadline_, StateWriter::Sending::kQueued);
  if (!writer) return finish({writer.status()});
  writer_ = std::move(*writer);
  snapshot_turn();
}

// What the last turn queued goes first, as far as the link takes it without
// waiting; only an empty queue lets the application write more. So the loop
// never blocks on a receiver slower than the sender.
void PrecopySender::snapshot_turn() {
  if (Status st = writer_->pump(); !st) return finish({st.with_context("pre-copying the snapshot")});
  if (writer_->queued_bytes() > 0) return;  // the link is full: the next writable turn goes on
  if (snapshot_written_) {
    writer_.reset();  // all sent: the rounds of changes come next
    return;
  }
  bool more = false;
  try {
    more = write_slices();
  } catch (const std::exception& e) {
    return finish({Status::error(std::string("writing the snapshot: ") + e.what()), true});
  }
  if (!more) {
    auto bytes = writer_->end();
    if (!bytes) return finish({bytes.status()});
    totals_.bytes += *bytes;
    snapshot_written_ = true;
  }
  if (Status st = writer_->pump(); !st) return finish({st.with_context("pre-copying the snapshot")});
  if (more) hold();
}

bool PrecopySender::write_slices() {
  const std::uint64_t start = writer_->written();
  bool more = true;
  while (more && writer_->status() && writer_->written() - start < kBytesPerTurn)
    more = snapshot_->write_slice(writer_->out());
  return more;
}

// Rounds go on while the changes shrink: once writes arrive as fast as a
// round carries them away, more rounds would not shorten the pause.
bool PrecopySender::another_round() const {
  const std::size_t changed = snapshot_->changed();
  if (changed <= kFewEnoughForThePause || totals_.rounds >= kMaxRounds) return false;
  return totals_.rounds == 0 || changed < last_round_;
}

// A test build may hold the snapshot after its first turn (LIBBATON_FAULT=hold-snapshot).
void PrecopySender::hold() {
  if (!faults_.hold_snapshot || held_once_) return;
  held_once_ = true;
  uv_poll_stop(poll_.get());
  faults_.hold_snapshot(loop_, [this, alive = std::weak_ptr<bool>(alive_)] {
    if (auto still = alive.lock(); still && *still && poll_.get()) uv_poll_start(poll_.get(), UV_WRITABLE, on_writable);
  });
}

void PrecopySender::finish(Outcome outcome) {
  poll_.close();
  writer_.reset();
  if (!outcome.status) snapshot_.reset();  // the handoff is over: stop recording changes
  Done done = std::exchange(done_, nullptr);
  if (done) done(outcome);  // last: it may destroy this
}

PrecopySender::Outcome PrecopySender::send_final(std::uint64_t& bytes, const std::function<void()>& after_write) {
  if (!snapshot_) return {Status::error("pre-copy ended early")};
  Outcome sent = send_part(link_, StatePart::kFinalChanges, version_, [&](std::ostream& out) {
    snapshot_->write_changes(out);
    if (after_write) after_write();
  }, deadline_, bytes);
  snapshot_.reset();
  return sent;
}

}  // namespace baton
