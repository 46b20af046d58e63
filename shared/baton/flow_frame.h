// The frame a steering worker forwards a datagram in, over another worker's
// inbox (PROTOCOL.md, "UDP flow steering"): the client's address and the
// listener the datagram came in on, then the datagram, unchanged.
//
//   u8 version (1) | u8 family (4 or 6) | u16 listener | u16 port | 4 or 16 address bytes | payload
//   (6 header bytes before the address)
//
// Integers are little-endian, as everywhere in the protocol; the address
// bytes are in network order, as in sockaddr. One frame per inbox datagram.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "baton/status.h"

namespace baton {

inline constexpr std::uint8_t kFlowFrameVersion = 1;
inline constexpr std::size_t kMaxFlowFrameHeader = 6 + 16;

struct FlowFrame {
  std::uint16_t listener = 0;  // its index in WELCOME's listener list
  sockaddr_storage from{};     // the client: AF_INET or AF_INET6
  socklen_t from_length = 0;
  std::span<const std::uint8_t> payload;  // points into the decoded bytes
};

// Writes the header for `from` (AF_INET or AF_INET6) into `out`; returns
// its size, or 0 for another family (such a datagram is not forwarded).
std::size_t encode_flow_header(std::uint16_t listener, const sockaddr* from, std::uint8_t out[kMaxFlowFrameHeader]);
// Reads a frame; its payload points into `bytes`. Errors name what is wrong.
Result<FlowFrame> decode_flow_frame(std::span<const std::uint8_t> bytes);

}  // namespace baton
