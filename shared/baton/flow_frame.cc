#include "baton/flow_frame.h"

#include <netinet/in.h>

#include <cstring>

#include "baton/little_endian.h"

namespace baton {

using le::get16;
using le::put16;

std::size_t encode_flow_header(std::uint16_t listener, const sockaddr* from, std::uint8_t out[kMaxFlowFrameHeader]) {
  out[0] = kFlowFrameVersion;
  put16(out + 2, listener);
  if (from->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(from);
    out[1] = 4;
    put16(out + 4, ntohs(in->sin_port));
    std::memcpy(out + 6, &in->sin_addr, 4);
    return 10;
  }
  if (from->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(from);
    out[1] = 6;
    put16(out + 4, ntohs(in6->sin6_port));
    std::memcpy(out + 6, &in6->sin6_addr, 16);
    return 22;
  }
  return 0;
}

Result<FlowFrame> decode_flow_frame(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < 6) return Status::error("flow frame of " + std::to_string(bytes.size()) + " bytes: too short");
  if (bytes[0] != kFlowFrameVersion)
    return Status::error("flow frame version " + std::to_string(bytes[0]) + ", expected " +
                         std::to_string(kFlowFrameVersion));
  FlowFrame frame;
  frame.listener = get16(bytes.data() + 2);
  const std::uint16_t port = get16(bytes.data() + 4);
  const std::uint8_t family = bytes[1];
  const std::size_t address = family == 4 ? 4 : family == 6 ? 16 : 0;
  if (address == 0) return Status::error("flow frame family " + std::to_string(family) + ", expected 4 or 6");
  if (bytes.size() < 6 + address) return Status::error("flow frame cut off inside the address");
  if (family == 4) {
    auto* in = reinterpret_cast<sockaddr_in*>(&frame.from);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    std::memcpy(&in->sin_addr, bytes.data() + 6, 4);
    frame.from_length = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&frame.from);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    std::memcpy(&in6->sin6_addr, bytes.data() + 6, 16);
    frame.from_length = sizeof(sockaddr_in6);
  }
  frame.payload = bytes.subspan(6 + address);
  return frame;
}

}  // namespace baton
