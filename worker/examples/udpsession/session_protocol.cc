#include "session_protocol.h"

#include <charconv>
#include <cstdio>

namespace udpsession {
namespace {

// The next space-separated word of `rest`, consumed.
std::string_view next_word(std::string_view& rest) {
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  const std::size_t end = rest.find(' ');
  std::string_view word = rest.substr(0, end);
  rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  return word;
}

std::optional<std::uint64_t> number(std::string_view word, int base) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), value, base);
  if (ec != std::errc() || end != word.data() + word.size() || word.empty()) return std::nullopt;
  return value;
}

}  // namespace

std::optional<Request> parse_request(std::string_view datagram) {
  while (!datagram.empty() && (datagram.back() == '\n' || datagram.back() == '\r')) datagram.remove_suffix(1);
  const std::string_view verb = next_word(datagram);
  if (verb == "OPEN") return Request{Request::Kind::kOpen};
  if (verb == "STATS") return Request{Request::Kind::kStats};
  const auto id = number(next_word(datagram), 16);
  if (!id) return std::nullopt;
  if (verb == "CLOSE") return Request{Request::Kind::kClose, *id};
  if (verb != "DATA") return std::nullopt;
  const auto seq = number(next_word(datagram), 10);
  if (!seq || *seq == 0) return std::nullopt;
  return Request{Request::Kind::kData, *id, *seq};
}

std::uint64_t make_session_id(std::uint32_t tag, std::uint32_t counter) {
  return (std::uint64_t{tag} << 32) | counter;
}

std::string id_text(std::uint64_t id) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(id));
  return text;
}

}  // namespace udpsession
