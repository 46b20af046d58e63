// The channel protocol's messages (version 1). The byte-level format and the
// message order are documented in shared/PROTOCOL.md; keep the two in step.
//
// Each message is a plain struct with its wire type and a cereal serialize()
// whose field order IS the wire order. Strings and lists are read through
// bounded() so a hostile length cannot make the reader allocate.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <cereal/cereal.hpp>

namespace baton {

inline constexpr std::uint16_t kProtocolVersion = 1;

enum class MessageType : std::uint16_t {
  kHello = 1,    // worker -> supervisor: first message, announces the worker
  kWelcome = 2,  // supervisor -> worker: identity + listener fds
  kReady = 3,    // worker -> supervisor: accepting on the listeners
  kDrain = 4,    // supervisor -> worker: stop accepting, finish, exit
  kError = 5,    // worker -> supervisor: cannot start; the text says why
  kFds = 6,      // either way: continuation datagram carrying more fds

  // Handoff mode, supervisor <-> worker.
  kStandby = 7,    // new worker -> supervisor: prepared, not accepting; the state versions it loads
  kHandoff = 8,    // supervisor -> old and new worker: the link to stream over (1 fd)
  kSent = 9,       // old worker -> supervisor: state and connections are on the link
  kRestored = 10,  // new worker -> supervisor: state loaded, connections adopted
  kCommit = 11,    // supervisor -> both: new serves, old exits
  kResume = 12,    // supervisor -> old worker: handoff abandoned (or rolled back), serve again
  kPark = 13,      // supervisor -> old worker: instead of COMMIT under --probation: keep the state, wait
  kParked = 14,    // old worker -> supervisor: handed-over connections closed, state kept
  kFeatures = 15,   // worker -> supervisor before READY/STANDBY: the optional parts it speaks;
                    // supervisor -> old worker before HANDOFF: what its receiver speaks
  kPrecopied = 16,  // old worker -> supervisor: pre-copy done while serving; it pauses now
  // Liveness (--hang-timeout), only with a worker that said FEATURES_ANSWERS_PING.
  kPing = 17,  // supervisor -> serving worker: answer from your event loop
  kPong = 18,  // worker -> supervisor: the PING's sequence, back
  kUnhealthy = 19,  // serving worker -> supervisor: it cannot serve well; under --probation, roll back

  // Handoff link, old worker -> new worker (PROTOCOL.md, "The handoff stream").
  kStateBegin = 20,
  kStateChunk = 21,
  kStateEnd = 22,
  kConnections = 23,
  kHandoffEnd = 24,
  kConnectionData = 25,  // more bytes of one connection: pending input beyond its CONNECTIONS entry, unsent output
  kStatePart = 26,       // pre-copy: what the next STATE_BEGIN..STATE_END holds (snapshot, changes)
  kConnectionsAhead = 27,  // pre-copy, while serving: connections' fds lent ahead, by id
  kConnectionsById = 28,   // in the pause: connections lent ahead that are still open, by id, no fds

  // supervisor -> serving worker that said FEATURES_SERVES_INHERITED: client
  // connections baton took from a hung predecessor (one fd each).
  kInherit = 29,
  // worker -> supervisor whose WELCOME said TAKES_CLIENTS, once told to go
  // (DRAIN, PARK, COMMIT as the sender): how many client connections it still holds.
  kClients = 30,
  // supervisor -> worker that said FEATURES_STEERS_FLOWS: its inbox and tag
  // (first), then the inboxes of other steering workers as they come and go.
  kSteer = 31,
};

// Human name for logs ("HELLO", "type 77" for unknown values).
std::string message_type_name(std::uint16_t type);
bool is_known_message_type(std::uint16_t type);
// A list of state versions for logs and errors: "[1, 2]".
std::string versions_text(const std::vector<std::uint32_t>& versions);

// Thrown by bounded() while decoding; the codec turns it into a Status.
struct ProtocolViolation : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline constexpr std::uint64_t kMaxStringBytes = 4096;
inline constexpr std::uint64_t kMaxListeners = 256;
inline constexpr std::uint64_t kMaxStateVersions = 64;
inline constexpr std::uint64_t kMaxChunkBytes = 60 * 1024;       // one STATE_CHUNK
// SCM_MAX_FD: the kernel refuses more fds than this in one sendmsg().
inline constexpr std::uint32_t kMaxFdsPerDatagram = 253;
inline constexpr std::uint64_t kMaxConnectionsPerBatch = kMaxFdsPerDatagram;  // one datagram of fds
inline constexpr std::uint64_t kMaxConnectionBytes = 32 * 1024;  // pending + app blob inline in CONNECTIONS
// CONNECTIONS_BY_ID carries no fds: the datagram's size bounds it first.
inline constexpr std::uint64_t kMaxConnectionsById = 4096;
// All bytes of one connection (pending input and unsent output, each) over
// its CONNECTION_DATA messages: generous, yet a bound a receiver can hold.
inline constexpr std::uint64_t kMaxConnectionDataBytes = std::uint64_t{256} << 20;

// A u64 length or count (cereal's own layout); on load, more than `max` is a
// protocol violation, thrown before anything is allocated.
template <class Archive>
std::size_t bounded_size(Archive& ar, std::size_t size, std::uint64_t max, const char* kind, const char* unit) {
  cereal::size_type n = size;
  ar(cereal::make_size_tag(n));
  if (Archive::is_loading::value && n > max)
    throw ProtocolViolation(std::string(kind) + " of " + std::to_string(n) + " " + unit + " exceeds the limit of " +
                            std::to_string(max));
  return static_cast<std::size_t>(n);
}

// A string field: length + bytes.
template <class Archive>
void bounded(Archive& ar, std::string& s, std::uint64_t max = kMaxStringBytes) {
  s.resize(bounded_size(ar, s.size(), max, "string", "bytes"));
  ar(cereal::binary_data(s.data(), s.size()));
}

// A list field: count + elements.
template <class Archive, class T>
void bounded(Archive& ar, std::vector<T>& v, std::uint64_t max) {
  v.resize(bounded_size(ar, v.size(), max, "list", "items"));
  for (auto& item : v) ar(item);
}

struct Hello {
  static constexpr MessageType kType = MessageType::kHello;
  std::uint32_t protocol_version = kProtocolVersion;
  std::uint32_t pid = 0;
  std::string worker_name;  // free text for logs, e.g. "kvstore 0.1.0"
  template <class A> void serialize(A& ar) {
    ar(protocol_version, pid);
    bounded(ar, worker_name);
  }
};

struct ListenerInfo {
  std::string name;  // as given in --listen NAME=URL
  std::string url;   // the bound address, e.g. "tcp://127.0.0.1:8080"
  template <class A> void serialize(A& ar) {
    bounded(ar, name);
    bounded(ar, url);
  }
};

// WELCOME flags.
inline constexpr std::uint32_t kWelcomeStandby = 1;   // handoff follows: say STANDBY, do not accept yet
inline constexpr std::uint32_t kWelcomeFeatures = 2;  // this supervisor takes FEATURES (and may send one)
inline constexpr std::uint32_t kWelcomeTakesClients = 4;  // and CLIENTS from a worker told to go
inline constexpr std::uint32_t kWelcomeSteers = 8;  // and sets up UDP flow steering (STEER) for a worker that asks

// Carries one fd per listener, in the order of `listeners`.
struct Welcome {
  static constexpr MessageType kType = MessageType::kWelcome;
  std::uint64_t generation = 0;
  std::uint32_t worker_index = 0;
  std::vector<ListenerInfo> listeners;
  std::uint32_t flags = 0;
  template <class A> void serialize(A& ar) {
    ar(generation, worker_index);
    bounded(ar, listeners, kMaxListeners);
    ar(flags);
  }
};

struct Ready {
  static constexpr MessageType kType = MessageType::kReady;
  template <class A> void serialize(A&) {}
};

struct Drain {
  static constexpr MessageType kType = MessageType::kDrain;
  // Time the worker has before the supervisor sends SIGTERM. Silent keep-alive
  // connections should be closed when it runs out, not before.
  std::uint32_t deadline_ms = 0;
  template <class A> void serialize(A& ar) { ar(deadline_ms); }
};

struct Error {
  static constexpr MessageType kType = MessageType::kError;
  std::string message;
  template <class A> void serialize(A& ar) { bounded(ar, message); }
};

// ---- handoff mode -----------------------------------------------------------

struct Standby {
  static constexpr MessageType kType = MessageType::kStandby;
  std::vector<std::uint32_t> state_versions;  // what this worker can load; empty: it takes no state
  template <class A> void serialize(A& ar) { bounded(ar, state_versions, kMaxStateVersions); }
};

// Carries one fd: this worker's end of the handoff link.
struct Handoff {
  static constexpr MessageType kType = MessageType::kHandoff;
  enum Role : std::uint32_t { kSender = 0, kReceiver = 1 };
  std::uint32_t role = kSender;
  std::vector<std::uint32_t> accepted_versions;  // sender: the state versions the receiver loads
  std::uint32_t timeout_ms = 0;                  // the whole handoff must be done by then
  template <class A> void serialize(A& ar) {
    ar(role);
    bounded(ar, accepted_versions, kMaxStateVersions);
    ar(timeout_ms);
  }
};

struct Sent {
  static constexpr MessageType kType = MessageType::kSent;
  std::uint64_t state_bytes = 0;
  std::uint32_t connections = 0;
  template <class A> void serialize(A& ar) { ar(state_bytes, connections); }
};

struct Restored {
  static constexpr MessageType kType = MessageType::kRestored;
  std::uint64_t state_bytes = 0;
  std::uint32_t connections = 0;
  template <class A> void serialize(A& ar) { ar(state_bytes, connections); }
};

// FEATURES flags: optional parts of the protocol (PROTOCOL.md, "Pre-copy").
inline constexpr std::uint32_t kFeatureSendsPrecopy = 1;  // as an old worker, it can pre-copy its state
inline constexpr std::uint32_t kFeatureLoadsPrecopy = 2;  // as a new worker, it loads a pre-copied state
// As a new worker, it takes connections lent ahead during a pre-copy
// (CONNECTIONS_AHEAD, CONNECTIONS_BY_ID); only with kFeatureLoadsPrecopy.
inline constexpr std::uint32_t kFeatureTakesConnectionsAhead = 4;
// It answers PING with PONG from its event loop (PROTOCOL.md, "Heartbeat").
inline constexpr std::uint32_t kFeatureAnswersPing = 8;
// It serves client connections taken from a hung predecessor (INHERIT).
inline constexpr std::uint32_t kFeatureServesInherited = 16;
// It steers UDP flows (PROTOCOL.md, "UDP flow steering"): STEER answers this
// FEATURES, before READY or STANDBY is sent. Only to a WELCOME with kWelcomeSteers.
inline constexpr std::uint32_t kFeatureSteersFlows = 32;

struct Features {
  static constexpr MessageType kType = MessageType::kFeatures;
  std::uint32_t flags = 0;
  template <class A> void serialize(A& ar) { ar(flags); }
};

struct Unhealthy {
  static constexpr MessageType kType = MessageType::kUnhealthy;
  std::string reason;
  template <class A> void serialize(A& ar) { bounded(ar, reason); }
};

struct Clients {
  static constexpr MessageType kType = MessageType::kClients;
  std::uint32_t count = 0;
  template <class A> void serialize(A& ar) { ar(count); }
};

// Another steering worker: where to forward datagrams of the flows it owns.
struct SteerPeer {
  std::uint32_t tag = 0;  // nonzero; what the application writes into its flow ids
  std::uint64_t generation = 0;
  std::uint32_t index = 0;
  template <class A> void serialize(A& ar) { ar(tag, generation, index); }
};

// The first STEER (own_tag != 0) carries this worker's inbox (read end)
// first; every STEER then carries one fd per `added` peer (the write end of
// its inbox), in list order. `removed`: peers gone, by tag.
inline constexpr std::uint64_t kMaxSteerPeers = kMaxFdsPerDatagram - 1;
inline constexpr std::uint64_t kMaxSteerRemoved = 4096;
struct Steer {
  static constexpr MessageType kType = MessageType::kSteer;
  std::uint32_t own_tag = 0;
  std::vector<SteerPeer> added;
  std::vector<std::uint32_t> removed;
  std::size_t fd_count() const { return (own_tag != 0 ? 1 : 0) + added.size(); }
  template <class A> void serialize(A& ar) {
    ar(own_tag);
    bounded(ar, added, kMaxSteerPeers);
    bounded(ar, removed, kMaxSteerRemoved);
  }
};

struct Ping {
  static constexpr MessageType kType = MessageType::kPing;
  std::uint64_t sequence = 0;
  template <class A> void serialize(A& ar) { ar(sequence); }
};

struct Pong {
  static constexpr MessageType kType = MessageType::kPong;
  std::uint64_t sequence = 0;  // the PING's
  template <class A> void serialize(A& ar) { ar(sequence); }
};

// INHERIT: one entry of flags per connection, one fd each, in list order.
inline constexpr std::uint8_t kInheritMidRequest = 1;  // the hung worker read bytes it never answered
struct Inherit {
  static constexpr MessageType kType = MessageType::kInherit;
  std::vector<std::uint8_t> flags;
  template <class A> void serialize(A& ar) { bounded(ar, flags, kMaxConnectionsPerBatch); }
};

struct Precopied {
  static constexpr MessageType kType = MessageType::kPrecopied;
  std::uint64_t state_bytes = 0;  // sent while serving: the snapshot and the rounds of changes
  std::uint32_t rounds = 0;       // rounds of changes sent while serving
  std::uint32_t connections_ahead = 0;  // connections lent ahead (CONNECTIONS_AHEAD)
  template <class A> void serialize(A& ar) { ar(state_bytes, rounds, connections_ahead); }
};

struct Commit {
  static constexpr MessageType kType = MessageType::kCommit;
  template <class A> void serialize(A&) {}
};

struct Resume {
  static constexpr MessageType kType = MessageType::kResume;
  template <class A> void serialize(A&) {}
};

struct Park {
  static constexpr MessageType kType = MessageType::kPark;
  template <class A> void serialize(A&) {}
};

struct Parked {
  static constexpr MessageType kType = MessageType::kParked;
  template <class A> void serialize(A&) {}
};

struct StateBegin {
  static constexpr MessageType kType = MessageType::kStateBegin;
  std::uint32_t version = 0;  // the application's state schema version
  template <class A> void serialize(A& ar) { ar(version); }
};

struct StateChunk {
  static constexpr MessageType kType = MessageType::kStateChunk;
  std::string data;  // 1 to kMaxChunkBytes bytes
  template <class A> void serialize(A& ar) { bounded(ar, data, kMaxChunkBytes); }
};

struct StateEnd {
  static constexpr MessageType kType = MessageType::kStateEnd;
  std::uint64_t total_length = 0;  // sum of the chunks' sizes
  std::uint64_t checksum = 0;      // XXH3-64 (seed 0) of the concatenated chunks
  template <class A> void serialize(A& ar) { ar(total_length, checksum); }
};

// Pre-copy form of the state: each STATE_BEGIN..STATE_END follows a STATE_PART.
struct StatePart {
  static constexpr MessageType kType = MessageType::kStatePart;
  enum Kind : std::uint8_t {
    kSnapshot = 0,      // the first part, sent while serving: every entry, as it was when its turn came
    kChanges = 1,       // sent while serving: entries changed since the previous part
    kFinalChanges = 2,  // sent in the pause: the last changes; connections follow
  };
  std::uint8_t kind = kSnapshot;
  template <class A> void serialize(A& ar) { ar(kind); }
};

struct ConnectionInfo {
  std::string pending;  // bytes read from the client but not yet processed
  std::string app;      // the application's own per-connection data
  template <class A> void serialize(A& ar) {
    bounded(ar, pending, kMaxConnectionBytes);
    bounded(ar, app, kMaxConnectionBytes);
  }
};

// Carries one fd per connection, in list order.
struct Connections {
  static constexpr MessageType kType = MessageType::kConnections;
  std::vector<ConnectionInfo> connections;
  template <class A> void serialize(A& ar) { bounded(ar, connections, kMaxConnectionsPerBatch); }
};

// Bytes of one connection that did not fit its CONNECTIONS entry. Follows
// the batch that listed the connection, before the next batch or HANDOFF_END;
// a connection's chunks of one kind arrive in order and are appended.
struct ConnectionData {
  static constexpr MessageType kType = MessageType::kConnectionData;
  enum Kind : std::uint8_t {
    kPending = 0,  // more input read from the client but not processed: appended to `pending`
    kUnsent = 1,   // output the old worker queued but the client has not read: written first by the new worker
  };
  std::uint32_t index = 0;  // the connection's position over the whole handoff (0-based)
  std::uint8_t kind = kPending;
  std::string bytes;        // 1 to kMaxChunkBytes bytes
  template <class A> void serialize(A& ar) {
    ar(index, kind);
    bounded(ar, bytes, kMaxChunkBytes);
  }
};

// Pre-copy, while the old worker still serves: connections lent ahead, one
// fd per id, so the new worker can prepare them before the pause. Ids are
// the sender's, nonzero and unique over the handoff.
struct ConnectionsAhead {
  static constexpr MessageType kType = MessageType::kConnectionsAhead;
  std::vector<std::uint64_t> ids;
  template <class A> void serialize(A& ar) { bounded(ar, ids, kMaxConnectionsPerBatch); }
};

struct ConnectionById {
  std::uint64_t id = 0;  // as lent in CONNECTIONS_AHEAD
  ConnectionInfo info;   // as in CONNECTIONS
  template <class A> void serialize(A& ar) { ar(id, info); }
};

// In the pause, in place of CONNECTIONS for connections lent ahead: no fds.
struct ConnectionsById {
  static constexpr MessageType kType = MessageType::kConnectionsById;
  std::vector<ConnectionById> connections;
  template <class A> void serialize(A& ar) { bounded(ar, connections, kMaxConnectionsById); }
};

struct HandoffEnd {
  static constexpr MessageType kType = MessageType::kHandoffEnd;
  std::uint32_t connections = 0;  // total over all CONNECTIONS and CONNECTIONS_BY_ID batches
  template <class A> void serialize(A& ar) { ar(connections); }
};

}  // namespace baton
