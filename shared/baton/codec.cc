#include "baton/codec.h"

#include "baton/little_endian.h"

namespace baton {

using le::get16;
using le::get32;
using le::put16;
using le::put32;

std::string versions_text(const std::vector<std::uint32_t>& versions) {
  std::string out;
  for (auto v : versions) out += (out.empty() ? "" : ", ") + std::to_string(v);
  return "[" + out + "]";
}

std::string message_type_name(std::uint16_t type) {
  switch (static_cast<MessageType>(type)) {
    case MessageType::kHello: return "HELLO";
    case MessageType::kWelcome: return "WELCOME";
    case MessageType::kReady: return "READY";
    case MessageType::kDrain: return "DRAIN";
    case MessageType::kError: return "ERROR";
    case MessageType::kFds: return "FDS";
    case MessageType::kStandby: return "STANDBY";
    case MessageType::kHandoff: return "HANDOFF";
    case MessageType::kSent: return "SENT";
    case MessageType::kRestored: return "RESTORED";
    case MessageType::kCommit: return "COMMIT";
    case MessageType::kResume: return "RESUME";
    case MessageType::kPark: return "PARK";
    case MessageType::kParked: return "PARKED";
    case MessageType::kFeatures: return "FEATURES";
    case MessageType::kPrecopied: return "PRECOPIED";
    case MessageType::kPing: return "PING";
    case MessageType::kPong: return "PONG";
    case MessageType::kUnhealthy: return "UNHEALTHY";
    case MessageType::kStateBegin: return "STATE_BEGIN";
    case MessageType::kStateChunk: return "STATE_CHUNK";
    case MessageType::kStateEnd: return "STATE_END";
    case MessageType::kConnections: return "CONNECTIONS";
    case MessageType::kHandoffEnd: return "HANDOFF_END";
    case MessageType::kConnectionData: return "CONNECTION_DATA";
    case MessageType::kStatePart: return "STATE_PART";
    case MessageType::kConnectionsAhead: return "CONNECTIONS_AHEAD";
    case MessageType::kConnectionsById: return "CONNECTIONS_BY_ID";
    case MessageType::kInherit: return "INHERIT";
    case MessageType::kClients: return "CLIENTS";
    case MessageType::kSteer: return "STEER";
  }
  return "type " + std::to_string(type);
}

bool is_known_message_type(std::uint16_t type) { return message_type_name(type).rfind("type ", 0) != 0; }

void encode_header(const FrameHeader& h, std::uint8_t out[kHeaderSize]) {
  put32(out, h.magic);
  put16(out + 4, h.version);
  put16(out + 6, h.type);
  put32(out + 8, h.body_length);
  put32(out + 12, h.fd_count);
}

Result<FrameHeader> decode_header(std::span<const std::uint8_t> d) {
  if (d.size() < kHeaderSize)
    return Status::error("short message: " + std::to_string(d.size()) + " bytes, the header alone is " +
                         std::to_string(kHeaderSize));
  FrameHeader h;
  h.magic = get32(d.data());
  h.version = get16(d.data() + 4);
  h.type = get16(d.data() + 6);
  h.body_length = get32(d.data() + 8);
  h.fd_count = get32(d.data() + 12);
  if (h.magic != kMagic) return Status::error("bad magic: not a baton channel message");
  if (h.version != kProtocolVersion)
    return Status::error("protocol version " + std::to_string(h.version) + " is not supported (this side speaks " +
                         std::to_string(kProtocolVersion) + ")");
  if (!is_known_message_type(h.type))
    return Status::error("unknown message " + message_type_name(h.type));
  if (h.body_length != d.size() - kHeaderSize)
    return Status::error(message_type_name(h.type) + ": header announces " + std::to_string(h.body_length) +
                         " body bytes but the message has " + std::to_string(d.size() - kHeaderSize));
  if (h.fd_count > kMaxFdsPerMessage)
    return Status::error(message_type_name(h.type) + ": " + std::to_string(h.fd_count) +
                         " fds exceed the limit of " + std::to_string(kMaxFdsPerMessage));
  return h;
}

Status check_body_prefix(std::span<const std::uint8_t> body) {
  if (body.empty()) return Status::error("empty body (expected at least the byte 0x01)");
  if (body[0] != 1) return Status::error("body must start with 0x01 (little-endian marker)");
  return Status::ok();
}

void encode_chunk_prefix(std::size_t length, std::uint8_t out[kChunkPrefixSize]) {
  out[0] = 1;
  for (int i = 0; i < 8; ++i) out[1 + i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(length) >> (8 * i));
}

Result<std::span<const std::uint8_t>> chunk_payload(std::span<const std::uint8_t> body) {
  if (Status st = check_body_prefix(body); !st) return st.with_context("STATE_CHUNK");
  if (body.size() < kChunkPrefixSize) return Status::error("STATE_CHUNK: malformed body: too short");
  std::uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | body[1 + i];
  if (length > kMaxChunkBytes)
    return Status::error("STATE_CHUNK: malformed body: string of " + std::to_string(length) +
                         " bytes exceeds the limit of " + std::to_string(kMaxChunkBytes));
  if (length != body.size() - kChunkPrefixSize)
    return Status::error("STATE_CHUNK: malformed body: announces " + std::to_string(length) + " bytes, carries " +
                         std::to_string(body.size() - kChunkPrefixSize));
  return body.subspan(kChunkPrefixSize);
}

}  // namespace baton
