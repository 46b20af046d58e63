// libFuzzer: inbox datagrams (PROTOCOL.md, "UDP flow steering"), bytes
// another worker wrote. Besides not crashing, a frame that decodes must
// encode to the same header, its payload inside the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "baton/flow_frame.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto frame = baton::decode_flow_frame({data, size});
  if (!frame) return 0;
  std::uint8_t header[baton::kMaxFlowFrameHeader];
  const std::size_t n =
      baton::encode_flow_header(frame->listener, reinterpret_cast<const sockaddr*>(&frame->from), header);
  if (n == 0 || n + frame->payload.size() != size || frame->payload.data() != data + n) std::abort();
  if (std::memcmp(header + 1, data + 1, n - 1) != 0) std::abort();  // byte 0: any version we read is ours
  return 0;
}
