#include "support/haproxy.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <sstream>

#include "baton/listener_socket.h"
#include "baton/unique_fd.h"

namespace testing_support {
namespace {

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream in(line);
  std::string field;
  while (std::getline(in, field, ',')) fields.push_back(field);
  return fields;
}

// One command on HAProxy's stats socket; the whole answer (it closes after it).
std::optional<std::string> ask(const std::string& socket_path, const std::string& command) {
  auto addr = baton::unix_address(socket_path);
  if (!addr) return std::nullopt;
  baton::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const timeval timeout{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) return std::nullopt;
  const std::string line = command + "\n";
  if (::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) return std::nullopt;
  std::string answer;
  char buf[16 * 1024];
  for (ssize_t n; (n = ::recv(fd.get(), buf, sizeof buf, 0)) != 0;) {
    if (n < 0) return std::nullopt;
    answer.append(buf, static_cast<std::size_t>(n));
  }
  return answer;
}

long number(const std::vector<std::string>& row, std::size_t at) {
  return at < row.size() && !row[at].empty() ? std::stol(row[at]) : 0;
}

}  // namespace

Haproxy::Haproxy(const std::string& config, const std::vector<std::string>& env, std::string stats_socket,
                 const std::string& log)
    : stats_socket_(std::move(stats_socket)) {
  // `env` execs haproxy in place, so the pid is HAProxy's own.
  std::vector<std::string> argv{"env"};
  argv.insert(argv.end(), env.begin(), env.end());
  for (const char* word : {"haproxy", "-db", "-f"}) argv.emplace_back(word);
  argv.push_back(config);
  process_ = std::make_unique<ChildProcess>(argv, log);
}

std::optional<std::map<std::string, HaproxyServer>> Haproxy::servers(const std::string& backend) const {
  auto answer = ask(stats_socket_, "show stat");
  if (!answer) return std::nullopt;
  std::stringstream in(*answer);
  std::string line;
  std::getline(in, line);  // "# pxname,svname,qcur,...": the columns by name
  std::map<std::string, std::size_t> column;
  const auto header = split_csv_line(line.substr(line.find_first_not_of("# ")));
  for (std::size_t i = 0; i < header.size(); ++i) column[header[i]] = i;
  std::map<std::string, HaproxyServer> out;
  while (std::getline(in, line)) {
    const auto row = split_csv_line(line);
    if (row.size() < 2 || row[0] != backend || row[1] == "BACKEND") continue;
    out[row[1]] = {.status = row.at(column.at("status")),
                   .times_down = number(row, column.at("chkdown")),
                   .retries = number(row, column.at("wretr")),
                   .redispatches = number(row, column.at("wredis"))};
  }
  return out;
}

}  // namespace testing_support
