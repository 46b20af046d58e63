#include "probation_check.h"

#include <arpa/inet.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace baton {
namespace {

constexpr std::chrono::milliseconds kEvery{1'000};
constexpr std::chrono::milliseconds kAnswerWithin{1'000};

// An address literal and port, as sockaddr; an error for a host name.
Result<sockaddr_storage> address_of(const std::string& host, std::uint16_t port) {
  sockaddr_storage a{};
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&a)) == 0) return a;
  if (uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&a)) == 0) return a;
  return Status::error("--probation-check: \"" + host + "\" is not an IP address; give one (127.0.0.1, [::1])");
}

// http://HOST[:PORT][/PATH]
Result<HealthTarget> parse_url(const std::string& url) {
  std::string rest = url.substr(7);
  const auto slash = rest.find('/');
  HealthTarget t{.path = slash == std::string::npos ? "/" : rest.substr(slash)};
  std::string authority = rest.substr(0, slash), host = authority;
  std::uint16_t port = 80;
  const auto colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
    host = authority.substr(0, colon);
    port = static_cast<std::uint16_t>(std::atoi(authority.c_str() + colon + 1));
  }
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  auto a = address_of(host, port);
  if (!a) return a.status();
  t.address = *a;
  t.host_header = authority;
  return t;
}

}  // namespace

Result<HealthTarget> parse_health_target(const std::string& check, const std::vector<ListenerSpec>& listeners) {
  if (check.rfind("http://", 0) == 0) {
    auto t = parse_url(check);
    if (t) t->text = "GET " + check;
    return t;
  }
  if (check.empty() || check[0] != '/')
    return Status::error("--probation-check: give a path (/healthz) or http://HOST:PORT/PATH, not \"" + check + "\"");
  for (const auto& l : listeners) {
    if (l.kind != ListenerKind::kTcp) continue;
    // A wildcard listener is asked on loopback.
    const std::string host = l.host.empty() || l.host == "0.0.0.0" ? "127.0.0.1" : l.host == "::" ? "::1" : l.host;
    const std::string shown = host.find(':') == std::string::npos ? host : "[" + host + "]";
    auto t = parse_url("http://" + shown + ":" + std::to_string(l.port) + check);
    if (t) t->text = "GET http://" + shown + ":" + std::to_string(l.port) + check;
    return t;
  }
  return Status::error("--probation-check " + check + ": no tcp:// listener to ask; give http://HOST:PORT" + check);
}

ProbationCheck::ProbationCheck(uv_loop_t* loop, HealthTarget target, Unhealthy unhealthy)
    : loop_(loop), target_(std::move(target)), unhealthy_(std::move(unhealthy)), next_(loop), timeout_(loop) {}

ProbationCheck::~ProbationCheck() = default;

void ProbationCheck::probation_started(std::uint64_t generation) {
  generation_ = generation;
  failures_ = answers_ = healthy_ = 0;
  next_.start(kEvery, [this] { ask(); });
}

void ProbationCheck::probation_ended(std::uint64_t generation) {
  if (generation != generation_) return;
  generation_ = 0;
  next_.stop();
  end_request();
  spdlog::info("probation checks of generation {}: {} of {} answers were 2xx ({})", generation, healthy_, answers_,
               target_.text);
}

void ProbationCheck::ask() {
  end_request();
  const auto* sa = reinterpret_cast<const sockaddr*>(&target_.address);
  socket_ = UniqueFd(::socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  const socklen_t len = sa->sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  if (!socket_ || (::connect(socket_.get(), sa, len) != 0 && errno != EINPROGRESS))
    return answered(std::string("connect: ") + std::strerror(errno));
  poll_ = std::make_unique<UvHandle<uv_poll_t>>();
  if (Status st = poll_->init(loop_, uv_poll_init, this, socket_.get()); !st) return answered(st.message());
  uv_poll_start(poll_->get(), UV_WRITABLE | UV_READABLE, &ProbationCheck::on_poll);
  timeout_.start(kAnswerWithin, [this] { answered("no answer within 1s"); });
}

void ProbationCheck::on_poll(uv_poll_t* poll, int status, int events) {
  if (auto* self = static_cast<ProbationCheck*>(poll->data)) self->on_socket(status < 0 ? -1 : events);
}

void ProbationCheck::on_socket(int events) {
  if (events < 0) return answered("connection failed");
  if (!sent_ && (events & UV_WRITABLE)) {
    const std::string request = "GET " + target_.path + " HTTP/1.1\r\nHost: " + target_.host_header +
                                "\r\nConnection: close\r\n\r\n";
    if (::send(socket_.get(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size()))
      return answered(std::string("send: ") + std::strerror(errno));
    sent_ = true;
    uv_poll_start(poll_->get(), UV_READABLE, &ProbationCheck::on_poll);  // now only the answer
    return;
  }
  char buffer[256];
  const ssize_t n = ::recv(socket_.get(), buffer, sizeof buffer, 0);
  if (n < 0 && errno == EAGAIN) return;
  if (n > 0) reply_.append(buffer, static_cast<std::size_t>(n));
  // The status line is all it needs: "HTTP/1.1 200 OK".
  if (reply_.find("\r\n") == std::string::npos && n > 0 && reply_.size() < 1024) return;
  const std::string line = reply_.substr(0, reply_.find("\r\n"));
  const auto space = line.find(' ');
  const int code = space == std::string::npos ? 0 : std::atoi(line.c_str() + space + 1);
  answered(code >= 200 && code < 300 ? "" : line.empty() ? "closed without an answer" : line.substr(space + 1));
}

void ProbationCheck::answered(const std::string& failure) {
  end_request();
  if (generation_ == 0) return;
  failures_ = failure.empty() ? 0 : failures_ + 1;
  ++answers_;
  if (failure.empty()) ++healthy_;
  if (!failure.empty()) spdlog::warn("probation check of generation {}: {}: {} ({} of {} in a row)", generation_,
                                     target_.text, failure, failures_, kProbationCheckFailures);
  if (failures_ < kProbationCheckFailures) return next_.start(kEvery, [this] { ask(); });
  const std::uint64_t failing = generation_;
  generation_ = 0;
  unhealthy_(failing, "its health check failed " + std::to_string(kProbationCheckFailures) + " times in a row (" +
                          target_.text + ": " + failure + ")");
}

void ProbationCheck::end_request() {
  timeout_.stop();
  poll_.reset();
  socket_ = UniqueFd();
  sent_ = false;
  reply_.clear();
}

}  // namespace baton
