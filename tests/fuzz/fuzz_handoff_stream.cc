// libFuzzer: a hostile old worker's handoff stream. The input is a series of
// datagrams, each prefixed by a 2-byte little-endian length; they go through
// a real socketpair (then EOF) into receive_state_parts() (one-part or
// pre-copied, with connections lent ahead) and receive_connections().
#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <istream>

#include "baton/handoff_stream.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto pair = baton::Channel::make_pair();
  if (!pair) return 0;
  for (std::size_t at = 0; at + 2 <= size;) {
    std::size_t n = static_cast<std::size_t>(data[at] | (data[at + 1] << 8));
    at += 2;
    if (n > size - at) n = size - at;
    if (::send(pair->first.fd(), data + at, n, MSG_DONTWAIT) < 0) break;
    at += n;
  }
  pair->first = baton::Channel();  // EOF after the last datagram: no waiting on a deadline
  const auto deadline = baton::Channel::Clock::now() + std::chrono::seconds(5);
  char sink[4096];
  auto drain = [&](std::istream& in, std::uint32_t) {
    while (in.read(sink, sizeof sink)) {
    }
  };
  baton::AheadConnections ahead;
  auto state = baton::receive_state_parts(pair->second, {.accepted = {1, 2}, .max_bytes = 1 << 20},
                                          {drain, drain, drain, &ahead}, deadline);
  if (state) (void)baton::receive_connections(pair->second, 1000, &ahead, deadline);
  return 0;
}
