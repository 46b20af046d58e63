// libbaton: what a worker process needs to run under the baton supervisor.
//
//   uv_loop_t* loop = uv_default_loop();
//   auto worker = baton::Worker::create(loop, {.name = "myapp 1.0",
//                                              .standalone_listen = {"http=tcp://127.0.0.1:8080"}});
//   if (!worker) { fprintf(stderr, "%s\n", worker.status().message().c_str()); return 1; }
//   baton::UniqueFd fd = (*worker)->take_listener("http").value();
//   ... uv_tcp_open(&server, fd.release()); uv_listen(...);
//   (*worker)->on_drain([&](const baton::DrainRequest& d) { stop_accepting(); finish_within(d.deadline); });
//   (*worker)->ready();
//   uv_run(loop, UV_RUN_DEFAULT);
//
// For handoff mode (state and connections move to the new binary), also
// register on_handoff() and on_restore(); see worker/README.md.
//
// Under baton (BATON_CHANNEL_FD in the environment) create() says HELLO and
// receives the listening sockets; started by hand it binds the sockets named
// in `standalone_listen` itself, so the same binary runs alone on a laptop.
// Everything happens on the loop's thread.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <cstddef>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// Only small value types: a worker's build needs libuv and the standard
// library, not the codec or cereal (a test target compiles against exactly these).
#include "baton/connection.h"
#include "baton/listener_spec.h"
#include "baton/status.h"
#include "baton/unique_fd.h"

namespace baton {

// A listening socket this worker was given (or bound itself when standalone).
struct WorkerListener {
  ListenerSpec spec;  // name, kind and address
  UniqueFd fd;        // empty once taken
};

struct DrainRequest {
  enum class Reason {
    kDrain,           // the supervisor asked (an upgrade or a stop)
    kSupervisorGone,  // the channel closed: baton died; finish up, do not linger
  };
  Reason reason = Reason::kDrain;
  // When this runs out, close connections that are still idle and exit.
  // libbaton gives the application the supervisor's deadline minus a margin
  // (a tenth, at most 1 s), so a well-behaved worker is gone before SIGTERM.
  std::chrono::milliseconds deadline{0};
};

// Pre-copy, the old worker's side (optional; worker/README.md, "Pre-copy"):
// a snapshot written a few entries at a time while this worker still serves,
// then what changed meanwhile. It records which entries change (are written
// or deleted) from its creation to its destruction; ChangedKeys
// (baton/changed_keys.h) does that bookkeeping for a keyed store.
class StateSnapshot {
 public:
  virtual ~StateSnapshot() = default;
  // Writes the next few entries (a few KiB up to a MiB) into `out`, the same
  // stream on every call; false once every entry is written. An entry
  // changed after its turn is sent again with the changes.
  virtual bool write_slice(std::ostream& out) = 0;
  // How many entries changed since the snapshot began or the last write_changes().
  virtual std::size_t changed() const = 0;
  // Writes those entries as they are now (a deleted one as deleted) and
  // forgets them. Called in rounds while serving, and once in the pause.
  virtual void write_changes(std::ostream& out) = 0;
};

// Handoff mode (baton run --mode handoff), the old worker's side: how it
// gives its state and open connections to its successor. All on the loop.
struct HandoffSource {
  std::uint32_t state_version = 1;  // the schema save_state writes
  // Stop accepting and stop reading at a request boundary, then call
  // `quiesced` (at once, or soon: never wait for a client to read). Bytes
  // already read but not processed, and responses queued but not sent,
  // travel with their connection (ExportedConnection::pending, ::unsent).
  std::function<void(std::function<void()> quiesced)> quiesce;
  // Serialize the state (a cereal archive over the stream, say).
  std::function<void(std::ostream&)> save_state;
  // The connections to hand over. Their fds are lent: keep them open until
  // committed() (close them) or resume() (serve them again).
  std::function<std::vector<ExportedConnection>()> export_connections;
  // The handoff was abandoned (the new worker failed): accept and read again.
  std::function<void()> resume;
  // The new worker serves now: close what was handed over (without
  // shutdown()), finish any connection kept back, and exit.
  std::function<void()> committed;
  // Optional (baton --probation): the new worker serves, on probation. Close
  // what was handed over and finish any connection kept back, as for
  // committed(), but keep the state and the listeners and do not exit: if
  // the new worker crashes, resume() follows (accept and serve again from
  // the state as it was at the handoff); if not, committed() (exit). Without
  // it, baton is told this worker cannot park and commits it at once.
  std::function<void()> park;
  // Optional: pre-copy. Start recording changes and return the snapshot.
  // Used when the successor loads pre-copied state (else save_state is);
  // the pause then carries only the changes made since, not the whole state.
  std::function<std::unique_ptr<StateSnapshot>()> start_snapshot;
  // Optional, with start_snapshot: the connections open now, each with an id
  // of its own (nonzero, never reused while this process lives: a counter).
  // During a pre-copy libbaton lends their fds ahead, so the successor
  // prepares them while this worker still serves them; export_connections
  // then sets ExportedConnection::id, and those go by id in the pause. A
  // connection closed meanwhile stays open in the successor until the pause
  // (it closes the ones not named), so end connections with shutdown().
  std::function<std::vector<OpenConnection>()> open_connections;
};

// Handoff mode, the new worker's side.
struct HandoffTarget {
  std::vector<std::uint32_t> state_versions{1};  // the schemas load_state reads
  std::function<void(std::istream&, std::uint32_t version)> load_state;
  // Take the connections; do not serve them before commit().
  std::function<void(std::vector<HandedConnection>)> adopt_connections;
  // Start accepting and serving (adopted connections first process their pending bytes).
  std::function<void()> commit;
  // Optional, both or neither: load a pre-copied state. load_snapshot reads
  // what StateSnapshot::write_slice wrote, load_changes one round of
  // write_changes (rounds arrive in order; apply each over what is there).
  std::function<void(std::istream&, std::uint32_t version)> load_snapshot;
  std::function<void(std::istream&, std::uint32_t version)> load_changes;
  // Optional, with pre-copy: connections lent ahead, while the old worker
  // still serves them. Prepare each (a handle, socket options) but read and
  // write nothing. adopt_connections() then names those still open by
  // HandedConnection::id, without an fd; close the prepared ones it does not
  // name. Without this callback libbaton holds the fds and adopt_connections()
  // gets every connection with its fd.
  std::function<void(std::vector<AheadConnection>)> prepare_connections;
};

// UDP flow steering (optional; worker/README.md, "UDP flows"). Every worker
// reads the same UDP socket, so a datagram may reach a worker (a sibling, the
// next generation) that does not hold its flow. Give each flow an id that
// carries flow_tag(), the tag of the worker that creates it (as QUIC-LB puts
// a server id in connection ids), and pass every datagram through steer():
// one of another worker's flows goes to that worker, over its inbox.
struct FlowSteering {
  // The tag in this datagram's flow id, or 0 when it starts a flow or names
  // none. Return flow_tag() for a flow this worker holds whatever its id
  // says (a flow that moved here with a handoff).
  std::function<std::uint32_t(std::string_view listener, const sockaddr* from, std::span<const std::uint8_t> datagram)>
      classify;
  // A datagram another worker read, of a flow this one owns: serve it as if
  // read from `listener`'s socket; answer through that socket, to `from`.
  std::function<void(std::string_view listener, const sockaddr* from, std::span<const std::uint8_t> datagram)> deliver;
};

struct FlowStats {
  std::uint64_t forwarded = 0;  // steer() sent to their owners
  std::uint64_t delivered = 0;  // forwarded here by others, given to deliver()
  std::uint64_t dropped = 0;    // an owner's inbox was full: lost, as on the network
};

class Worker {
 public:
  struct Options {
    std::string name;                            // shown in baton's logs, e.g. "kvstore 0.1.0"
    std::vector<std::string> standalone_listen;  // "NAME=URL" specs bound when not under baton
    std::chrono::milliseconds handshake_timeout{10'000};
    // Deadline handed to on_drain when the supervisor disappears.
    std::chrono::milliseconds orphan_deadline{5'000};
  };

  // Connects to the supervisor (or binds standalone listeners). Blocks at
  // most handshake_timeout. Errors say what is wrong with the environment.
  static Result<std::unique_ptr<Worker>> create(uv_loop_t* loop, Options options);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  bool supervised() const;
  std::uint64_t generation() const;  // 0 when standalone
  std::uint32_t index() const;

  std::vector<WorkerListener>& listeners();
  // Takes the fd of the listener called `name`; the caller owns it from now on.
  Result<UniqueFd> take_listener(std::string_view name);

  // Called once, when it is time to stop accepting and finish.
  void on_drain(std::function<void(const DrainRequest&)> callback);
  // Tells the supervisor this worker accepts connections now. Call once,
  // after listening; until then the previous generation keeps serving.
  Status ready();
  // Handoff mode. Register both to take part; a worker without a source
  // refuses to hand off, one without a target cannot receive. Register them
  // before ready(): it tells baton whether this worker takes pre-copy.
  void on_handoff(HandoffSource source);
  void on_restore(HandoffTarget target);
  // Optional (baton --hang-timeout): serve client connections baton took
  // from a hung worker before ending it. Register before ready(); a worker
  // without it is never given any (baton closes them). Each connection is
  // yours, as if just accepted; close those marked mid_request.
  void on_inherit(std::function<void(std::vector<InheritedConnection>)> callback);
  // UDP flow steering: register before ready(); ready() then waits for baton
  // to hand over the inboxes (within handshake_timeout).
  void on_flows(FlowSteering steering);
  // This worker's tag: write it into the id of every flow it creates.
  // Nonzero once steering is on; 0 standalone, under --udp-steering off or
  // an older baton (then steer() forwards nothing: each worker serves what
  // it reads, as without steering). A successor that takes a handoff keeps
  // its predecessor's tag, so the flows that moved with the state keep theirs.
  std::uint32_t flow_tag() const;
  // Call for every datagram read from a UDP listener, before serving it.
  // True: it belongs to another worker's flow and went there; drop it.
  // False: serve it here. After DRAIN, datagrams that start a flow go to the
  // newest generation: a draining worker serves only the flows it has.
  bool steer(std::string_view listener, const sockaddr* from, std::span<const std::uint8_t> datagram);
  FlowStats flow_stats() const;
  // True when a previous generation will hand over its state: do not accept
  // yet; ready() then says STANDBY and target.commit() says when to start.
  bool awaiting_handoff() const;

  // Tells the supervisor this worker cannot start (bad config, missing data…)
  // before READY: baton logs `message` and keeps the previous generation.
  // The worker should exit afterwards.
  Status report_error(const std::string& message);
  // While serving: this worker cannot serve well (its dependencies fail, its
  // own checks do). A generation on --probation is rolled back for it as for
  // a crash; otherwise baton logs it. Without baton, it does nothing.
  Status report_unhealthy(const std::string& reason);
  // How many client connections this worker holds now: call it whenever the
  // number changes (cheap: nothing is sent while it serves). Once baton has
  // told it to go (DRAIN, or COMMIT/PARK after handing off), baton hears each
  // change, and `baton status` shows what still holds a drain open.
  void report_connections(std::size_t count);

  // The worker stops on its own (a SIGTERM, a fatal error), not because baton
  // said DRAIN: libbaton stops watching the channel, so the loop can end once
  // the application's own handles have closed. Until then the channel keeps
  // the loop running, so a worker whose loop has nothing else still hears DRAIN.
  void finish();

  class Impl;  // worker/src/worker_impl.h

 private:
  explicit Worker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton
