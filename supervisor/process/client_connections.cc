#include "client_connections.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <cstdlib>
#include <unordered_map>

namespace baton {
namespace {

constexpr const char* kEstablished = "01";  // TCP_ESTABLISHED in /proc/net/tcp's "st" column

// The sockets among `pid`'s fds, by inode (an inode's first fd); none if
// /proc/PID/fd cannot be read.
std::optional<std::unordered_map<std::uint64_t, int>> sockets_by_inode(pid_t pid) {
  std::error_code ec;
  std::filesystem::directory_iterator fd("/proc/" + std::to_string(pid) + "/fd", ec);
  if (ec) return std::nullopt;
  std::unordered_map<std::uint64_t, int> sockets;
  // Non-throwing all the way: an fd may close while we look.
  for (; !ec && fd != std::filesystem::directory_iterator(); fd.increment(ec)) {
    std::error_code link_error;
    const std::string target = std::filesystem::read_symlink(fd->path(), link_error).string();
    unsigned long long inode = 0;
    if (!link_error && std::sscanf(target.c_str(), "socket:[%llu]", &inode) == 1)
      sockets.emplace(inode, std::atoi(fd->path().filename().c_str()));
  }
  return sockets;
}

// The fds among `sockets` that /proc/PID/net/tcp{,6}'s `table` lists as
// established, with a local port in `ports`.
void clients_in(const std::string& table, const std::unordered_map<std::uint64_t, int>& sockets,
                const std::vector<std::uint16_t>& ports, std::vector<int>& fds) {
  std::ifstream in(table);
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    std::istringstream row(line);
    std::string sl, local, remote, state, queues, timer, retransmits, uid, timeout;
    std::uint64_t inode = 0;
    if (!(row >> sl >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode)) continue;
    const auto socket = sockets.find(inode);
    if (state != kEstablished || socket == sockets.end()) continue;
    const auto colon = local.rfind(':');
    if (colon == std::string::npos) continue;
    const auto port = static_cast<std::uint16_t>(std::stoul(local.substr(colon + 1), nullptr, 16));
    if (std::find(ports.begin(), ports.end(), port) != ports.end()) fds.push_back(socket->second);
  }
}

}  // namespace

std::optional<std::vector<int>> socket_fds(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  auto sockets = sockets_by_inode(pid);
  if (!sockets) return std::nullopt;
  std::vector<int> fds;
  for (const auto& [inode, fd] : *sockets) fds.push_back(fd);
  return fds;
}

std::optional<std::size_t> count_client_connections(pid_t pid, const std::vector<std::uint16_t>& ports) {
  if (pid <= 0) return std::nullopt;
  auto sockets = sockets_by_inode(pid);
  if (!sockets) return std::nullopt;
  std::vector<int> fds;
  if (sockets->empty() || ports.empty()) return 0;
  const std::string net = "/proc/" + std::to_string(pid) + "/net/";
  clients_in(net + "tcp", *sockets, ports, fds);
  clients_in(net + "tcp6", *sockets, ports, fds);
  // The kernel writes those tables a page at a time while connections come
  // and go, so a row may be read twice.
  std::sort(fds.begin(), fds.end());
  return static_cast<std::size_t>(std::unique(fds.begin(), fds.end()) - fds.begin());
}

}  // namespace baton
