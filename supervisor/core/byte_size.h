// Sizes on the command line: "512M", "1.5G", "100MiB", "4096" (bytes); and
// as log lines print them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "baton/status.h"

namespace baton {

// K, M, G, T (and KiB, MiB, GiB, TiB, KB, ...) are powers of 1024, as in
// cgroups and ps; a bare number is bytes. 0 is allowed (off).
Result<std::uint64_t> parse_byte_size(std::string_view text);
std::string format_byte_size(std::uint64_t bytes);  // "512.0 MiB", "1.50 GiB", "900 B"

}  // namespace baton
