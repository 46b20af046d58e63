#include "client_connections.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unordered_set>

namespace baton {
namespace {

constexpr const char* kEstablished = "01";  // TCP_ESTABLISHED in /proc/net/tcp's "st" column

// The inodes of the sockets among `pid`'s fds; none if /proc/PID/fd cannot be read.
std::optional<std::unordered_set<std::uint64_t>> socket_inodes(pid_t pid) {
  std::error_code ec;
  std::filesystem::directory_iterator fd("/proc/" + std::to_string(pid) + "/fd", ec);
  if (ec) return std::nullopt;
  std::unordered_set<std::uint64_t> inodes;
  // Non-throwing all the way: an fd may close while we look.
  for (; !ec && fd != std::filesystem::directory_iterator(); fd.increment(ec)) {
    std::error_code link_error;
    const std::string target = std::filesystem::read_symlink(fd->path(), link_error).string();
    unsigned long long inode = 0;
    if (!link_error && std::sscanf(target.c_str(), "socket:[%llu]", &inode) == 1) inodes.insert(inode);
  }
  return inodes;
}

// Counts /proc/PID/net/tcp{,6} rows: established, local port in `ports`, inode in `inodes`.
std::size_t count_in(const std::string& table, const std::unordered_set<std::uint64_t>& inodes,
                     const std::vector<std::uint16_t>& ports) {
  std::ifstream in(table);
  std::string line;
  std::getline(in, line);  // the header
  std::size_t n = 0;
  while (std::getline(in, line)) {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    std::istringstream row(line);
    std::string sl, local, remote, state, queues, timer, retransmits, uid, timeout;
    std::uint64_t inode = 0;
    if (!(row >> sl >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode)) continue;
    if (state != kEstablished || !inodes.count(inode)) continue;
    const auto colon = local.rfind(':');
    if (colon == std::string::npos) continue;
    const auto port = static_cast<std::uint16_t>(std::stoul(local.substr(colon + 1), nullptr, 16));
    if (std::find(ports.begin(), ports.end(), port) != ports.end()) ++n;
  }
  return n;
}

}  // namespace

std::optional<std::size_t> count_client_connections(pid_t pid, const std::vector<std::uint16_t>& ports) {
  if (pid <= 0) return std::nullopt;
  auto inodes = socket_inodes(pid);
  if (!inodes) return std::nullopt;
  if (inodes->empty() || ports.empty()) return 0;
  const std::string net = "/proc/" + std::to_string(pid) + "/net/";
  return count_in(net + "tcp", *inodes, ports) + count_in(net + "tcp6", *inodes, ports);
}

}  // namespace baton
