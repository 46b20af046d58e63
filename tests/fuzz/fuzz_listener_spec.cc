// libFuzzer: listener specs from the command line. Besides not crashing, a
// spec that parses must print as a spec that parses to the same thing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "baton/listener_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto spec = baton::parse_listener_spec(text);
  if (!spec) return 0;
  auto again = baton::parse_listener_spec(spec->to_string());
  if (!again || again->to_string() != spec->to_string() || again->kind != spec->kind ||
      again->port != spec->port || again->path != spec->path || again->mode != spec->mode)
    std::abort();
  return 0;
}
