// Framing of one channel message: a fixed 16-byte header followed by a cereal
// portable-binary body (PROTOCOL.md, "Framing"). Pure functions, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include <cereal/archives/portable_binary.hpp>

#include "baton/protocol.h"
#include "baton/status.h"

namespace baton {

inline constexpr std::uint32_t kMagic = 0x4E544142;  // bytes "BATN" on the wire
inline constexpr std::size_t kHeaderSize = 16;
// One datagram, header included. Larger messages are a protocol error.
inline constexpr std::size_t kMaxMessageSize = 64 * 1024;
inline constexpr std::size_t kMaxBodySize = kMaxMessageSize - kHeaderSize;
inline constexpr std::uint32_t kMaxFdsPerMessage = 4096;

struct FrameHeader {
  std::uint32_t magic = kMagic;
  std::uint16_t version = kProtocolVersion;
  std::uint16_t type = 0;
  std::uint32_t body_length = 0;
  std::uint32_t fd_count = 0;  // fds the whole message carries (see kFds)
};

void encode_header(const FrameHeader& header, std::uint8_t out[kHeaderSize]);
// Checks magic, version, known type, body length and fd-count limits against
// the datagram's real size.
Result<FrameHeader> decode_header(std::span<const std::uint8_t> datagram);

template <class M>
std::vector<std::uint8_t> encode_body(const M& message) {
  std::ostringstream os;
  {
    cereal::PortableBinaryOutputArchive ar(
        os, cereal::PortableBinaryOutputArchive::Options::LittleEndian());
    ar(const_cast<M&>(message));  // serialize() is shared by save and load
  }
  const std::string s = std::move(os).str();
  return {s.begin(), s.end()};
}

Status check_body_prefix(std::span<const std::uint8_t> body);

// STATE_CHUNK without cereal, for the handoff's hot path. The layout is
// exactly what encode_body(StateChunk{data}) produces: 0x01, u64 length, bytes.
inline constexpr std::size_t kChunkPrefixSize = 9;
void encode_chunk_prefix(std::size_t length, std::uint8_t out[kChunkPrefixSize]);
// The chunk's bytes inside `body` (a view, no copy), after checking the layout and bounds.
Result<std::span<const std::uint8_t>> chunk_payload(std::span<const std::uint8_t> body);

// Decodes a body; fails (never throws) on truncation, trailing bytes or
// limits exceeded, naming the message type.
template <class M>
Result<M> decode_body(std::span<const std::uint8_t> body) {
  const std::string what = message_type_name(static_cast<std::uint16_t>(M::kType));
  if (Status st = check_body_prefix(body); !st) return st.with_context(what);
  std::istringstream is(std::string(body.begin(), body.end()));
  M message;
  try {
    cereal::PortableBinaryInputArchive ar(
        is, cereal::PortableBinaryInputArchive::Options::LittleEndian());
    ar(message);
  } catch (const std::exception& e) {
    return Status::error(what + ": malformed body: " + e.what());
  }
  if (is.peek() != std::char_traits<char>::eof())
    return Status::error(what + ": " + std::to_string(body.size() - static_cast<std::size_t>(is.tellg())) +
                         " unexpected bytes after the body");
  return message;
}

}  // namespace baton
