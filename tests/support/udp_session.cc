#include "support/udp_session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>
#include <thread>
#include <vector>

namespace testing_support {
namespace {

using Clock = std::chrono::steady_clock;

baton::Result<baton::UniqueFd> connected_socket(std::uint16_t port) {
  baton::UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return baton::Status::from_errno(errno, "socket");
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) != 0)
    return baton::Status::from_errno(errno, "connect udp 127.0.0.1:" + std::to_string(port));
  return fd;
}

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// One answer, or nothing within `wait`.
std::optional<std::string> receive(int fd, std::chrono::milliseconds wait) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return std::nullopt;
  char buffer[2048];
  const ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
  if (n <= 0) return std::nullopt;
  return std::string(buffer, static_cast<std::size_t>(n));
}

}  // namespace

baton::Result<std::pair<std::string, SessionAnswer>> UdpSession::ask(const std::string& request,
                                                                      const std::string& match) {
  for (int attempt = 1; attempt <= options_.tries; ++attempt) {
    const auto sent = Clock::now();
    if (::send(fd_.get(), request.data(), request.size(), 0) < 0 && errno != ECONNREFUSED)
      return baton::Status::from_errno(errno, "send " + request);
    const auto until = sent + options_.retry_after;
    for (auto now = sent; now < until; now = Clock::now()) {
      auto answer = receive(fd_.get(), std::chrono::duration_cast<std::chrono::milliseconds>(until - now) +
                                           std::chrono::milliseconds(1));
      if (!answer) break;
      const auto w = words(*answer);
      const bool failure = !w.empty() && (w[0] == "UNKNOWN" || w[0] == "BADSEQ" || w[0] == "ERROR");
      if (answer->rfind(match, 0) != 0 && !failure) continue;  // a late answer to an earlier try
      if (failure && (w.size() < 2 || (w[0] != "ERROR" && w[1] != id_))) continue;
      SessionAnswer a{w.empty() ? "" : w.back(),
                      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - sent), attempt};
      if (failure)
        return baton::Status::error("\"" + request + "\" answered \"" + *answer + "\" (try " +
                                    std::to_string(attempt) + ")");
      return std::pair{*answer, a};
    }
  }
  return baton::Status::error("\"" + request + "\" not answered after " + std::to_string(options_.tries) + " tries");
}

baton::Result<UdpSession> UdpSession::open(const Options& options, SessionAnswer* answer) {
  auto fd = connected_socket(options.port);
  if (!fd) return fd.status();
  UdpSession session(options, std::move(fd.value()));
  auto r = session.ask("OPEN", "OPENED ");
  if (!r) return r.status();
  const auto w = words(r->first);
  if (w.size() != 3) return baton::Status::error("OPEN answered \"" + r->first + "\"");
  session.id_ = w[1];
  session.generation_ = std::stoull(w[2].substr(0, w[2].find('.')));
  if (answer) *answer = r->second;
  return session;
}

baton::Result<SessionAnswer> UdpSession::data() {
  const std::string seq = std::to_string(++seq_);
  auto r = ask("DATA " + id_ + " " + seq, "ACK " + id_ + " " + seq + " ");
  if (!r) return r.status();
  return r->second;
}

baton::Status UdpSession::close() {
  auto r = ask("CLOSE " + id_, "CLOSED " + id_);
  // A CLOSED lost on the way: the session is gone when we ask again.
  const std::string& why = r ? id_ : r.status().message();
  if (!r && why.find("UNKNOWN") != std::string::npos && why.find("(try 1)") == std::string::npos)
    return baton::Status::ok();
  return r ? baton::Status::ok() : r.status();
}

baton::Result<FlowOpening> run_session(std::uint16_t port, int data, std::chrono::milliseconds gap) {
  SessionAnswer opened;
  auto session = UdpSession::open({.port = port}, &opened);
  if (!session) return baton::Status::error("OPEN: " + session.status().message());
  // When the OPEN that was answered went out: the generation that holds it was serving then.
  FlowOpening opening{Clock::now() - opened.rtt, session->generation_opened(), 0};
  for (int i = 0; i < data; ++i, ++opening.answered) {
    if (auto a = session->data(); !a) return baton::Status::error("session " + session->id() + ": " + a.status().message());
    std::this_thread::sleep_for(gap);  // the flow's pace, not a wait for an event
  }
  if (auto st = session->close(); !st) return baton::Status::error("session " + session->id() + ": " + st.message());
  return opening;
}

std::optional<std::string> session_stats(std::uint16_t port) {
  auto fd = connected_socket(port);
  if (!fd) return std::nullopt;
  for (int attempt = 0; attempt < 6; ++attempt) {
    (void)::send(fd->get(), "STATS", 5, 0);
    auto answer = receive(fd->get(), std::chrono::milliseconds(300));
    if (answer && answer->rfind("STATS ", 0) == 0) return answer;
  }
  return std::nullopt;
}

long stats_field(const std::string& stats, const std::string& name) {
  for (const auto& w : words(stats))
    if (w.rfind(name + "=", 0) == 0) return std::stol(w.substr(name.size() + 1));
  return -1;
}

}  // namespace testing_support
