// The udpsession protocol: one text line per datagram, a session per flow.
//
//   OPEN                    -> OPENED <id> <gen>.<index>
//   DATA <id> <seq>         -> ACK <id> <seq> <gen>.<index>       seq counts from 1; a repeat is answered again
//   CLOSE <id>              -> CLOSED <id>
//   STATS                   -> STATS gen=<g> index=<i> pid=<p> tag=<t> sessions=<n> forwarded=<f> delivered=<d> dropped=<x>
//   a DATA or CLOSE for a session this process does not hold:
//                           -> UNKNOWN <id> <gen>.<index>;  a seq out of order: BADSEQ <id> <expected>
//
// A session id is 16 hex digits: the tag of the worker that opened it (baton's
// flow tag, 0 without steering), then a counter. The tag is what tells any
// worker which one holds the session (Worker::steer()).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace udpsession {

struct Request {
  enum class Kind { kOpen, kData, kClose, kStats } kind = Kind::kOpen;
  std::uint64_t id = 0;   // DATA, CLOSE
  std::uint64_t seq = 0;  // DATA
};

std::optional<Request> parse_request(std::string_view datagram);
std::uint64_t make_session_id(std::uint32_t tag, std::uint32_t counter);
inline std::uint32_t tag_of(std::uint64_t id) { return static_cast<std::uint32_t>(id >> 32); }
std::string id_text(std::uint64_t id);

}  // namespace udpsession
