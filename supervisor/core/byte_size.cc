#include "byte_size.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace baton {
namespace {

// The multiplier a suffix names, 0 for none we know.
std::uint64_t unit(std::string_view suffix) {
  std::string s;
  for (char c : suffix) s += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (s.empty() || s == "B") return 1;
  const char* const kUnits = "KMGT";
  for (int i = 0; i < 4; ++i) {
    const std::string one(1, kUnits[i]);
    if (s == one || s == one + "B" || s == one + "IB") return 1ULL << (10 * (i + 1));
  }
  return 0;
}

}  // namespace

Result<std::uint64_t> parse_byte_size(std::string_view text) {
  const std::string why = "\"" + std::string(text) + "\" is not a size; write 512M, 1.5G or a number of bytes";
  double number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || number < 0 || !std::isfinite(number)) return Status::error(why);
  const std::uint64_t multiplier = unit(text.substr(static_cast<std::size_t>(end - text.data())));
  if (multiplier == 0) return Status::error(why);
  const double bytes = number * static_cast<double>(multiplier);
  if (bytes >= 18e18) return Status::error("\"" + std::string(text) + "\" is too large");
  return static_cast<std::uint64_t>(bytes);
}

std::string format_byte_size(std::uint64_t bytes) {
  char out[32];
  if (bytes < 1024) {
    std::snprintf(out, sizeof out, "%llu B", static_cast<unsigned long long>(bytes));
    return out;
  }
  const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes) / 1024;
  int i = 0;
  for (; v >= 1024 && i < 3; ++i) v /= 1024;
  std::snprintf(out, sizeof out, v >= 100 ? "%.0f %s" : "%.1f %s", v, kUnits[i]);
  return out;
}

}  // namespace baton
