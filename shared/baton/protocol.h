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
};

// Human name for logs ("HELLO", "type 77" for unknown values).
std::string message_type_name(std::uint16_t type);
bool is_known_message_type(std::uint16_t type);

// Thrown by bounded() while decoding; the codec turns it into a Status.
struct ProtocolViolation : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline constexpr std::uint64_t kMaxStringBytes = 4096;
inline constexpr std::uint64_t kMaxListeners = 256;

// A string field: u64 length + bytes (cereal's own layout), length-checked on load.
template <class Archive>
void bounded(Archive& ar, std::string& s, std::uint64_t max = kMaxStringBytes) {
  cereal::size_type n = s.size();
  ar(cereal::make_size_tag(n));
  if constexpr (Archive::is_loading::value) {
    if (n > max)
      throw ProtocolViolation("string of " + std::to_string(n) + " bytes exceeds the limit of " +
                              std::to_string(max));
    s.resize(static_cast<std::size_t>(n));
  }
  ar(cereal::binary_data(s.data(), s.size()));
}

// A list field: u64 count + elements, count-checked on load.
template <class Archive, class T>
void bounded(Archive& ar, std::vector<T>& v, std::uint64_t max) {
  cereal::size_type n = v.size();
  ar(cereal::make_size_tag(n));
  if constexpr (Archive::is_loading::value) {
    if (n > max)
      throw ProtocolViolation("list of " + std::to_string(n) + " items exceeds the limit of " +
                              std::to_string(max));
    v.resize(static_cast<std::size_t>(n));
  }
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

// Carries one fd per listener, in the order of `listeners`.
struct Welcome {
  static constexpr MessageType kType = MessageType::kWelcome;
  std::uint64_t generation = 0;
  std::uint32_t worker_index = 0;
  std::vector<ListenerInfo> listeners;
  template <class A> void serialize(A& ar) {
    ar(generation, worker_index);
    bounded(ar, listeners, kMaxListeners);
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

}  // namespace baton
