#include "control_server.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "logging.h"

namespace baton {
namespace {

constexpr std::size_t kMaxRequest = 1024;
constexpr std::chrono::milliseconds kRequestDeadline{5'000};
constexpr const char* kRequests = "status, upgrade [wait], upgrade self, stop [fast] [wait]";

// Text from a client may be any bytes: invalid UTF-8 becomes U+FFFD rather than an exception.
std::string reply(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}
std::string error_reply(const std::string& why) { return reply({{"ok", false}, {"error", why}}); }

std::vector<std::string> words_of(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

bool has_word(const std::vector<std::string>& words, const char* w) {
  return std::find(words.begin() + 1, words.end(), w) != words.end();
}

// Every word after the first is one of `allowed`.
bool only_words(const std::vector<std::string>& words, std::initializer_list<const char*> allowed) {
  return std::all_of(words.begin() + 1, words.end(), [&](const std::string& w) {
    return std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return w == a; });
  });
}

}  // namespace

Result<std::unique_ptr<ControlServer>> ControlServer::open(uv_loop_t* loop, ServiceFacts facts) {
  ListenerSpec spec{.name = "control", .kind = ListenerKind::kUnix, .path = facts.control_socket, .mode = 0600};
  auto bound = bind_listener(spec, kListenBacklog);
  if (!bound)
    return bound.status().with_context("control socket (another baton of this name? choose with --name or --control)");
  return std::unique_ptr<ControlServer>(new ControlServer(loop, std::move(facts), std::move(bound.value())));
}

ControlServer::ControlServer(uv_loop_t* loop, ServiceFacts facts, BoundListener socket)
    : facts_(std::move(facts)),
      server_(loop, std::move(socket), {.max_request = kMaxRequest, .deadline = kRequestDeadline},
              "control socket"),
      refused_peers_(loop, "control socket: clients refused"),
      too_long_(loop, "control socket: requests too long"),
      too_slow_(loop, "control socket: requests not whole in time"),
      unknown_(loop, "control socket: unknown requests") {}

ControlServer::~ControlServer() = default;

Status ControlServer::serve(Supervisor& supervisor) {
  supervisor_ = &supervisor;
  Status st = server_.listen(*this, [this](StreamConnection& c) {
    if (!peer_allowed(c))
      c.write(error_reply("permission denied: only root and uid " + std::to_string(::geteuid()) +
                          " may control this baton"),
              true);
  });
  if (st) spdlog::info("control socket {}", facts_.control_socket);
  return st;
}

bool ControlServer::peer_allowed(StreamConnection& c) {
  ucred peer{};
  socklen_t length = sizeof peer;
  if (::getsockopt(c.fd(), SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) {
    refused_peers_.log("control socket: refused a client whose credentials could not be read");
    return false;
  }
  if (peer.uid == 0 || peer.uid == ::geteuid()) return true;
  refused_peers_.log(fmt::format("control socket: refused a client (pid {}, uid {}): only root and uid {} may "
                                 "control baton",
                                 peer.pid, peer.uid, ::geteuid()));
  return false;
}

void ControlServer::on_request_bytes(StreamConnection& c, std::string_view request, std::size_t fresh) {
  // Only the new bytes can hold the first newline.
  const auto end = request.find('\n', request.size() - fresh);
  if (end == std::string_view::npos) return;  // not whole yet
  std::string line(request.substr(0, end));
  if (!line.empty() && line.back() == '\r') line.pop_back();
  c.request_complete();
  handle(c, line);
}

void ControlServer::on_bad_request(StreamConnection& c, Bad kind, const std::string& why) {
  (kind == Bad::kTooLong ? too_long_ : too_slow_).log("control socket: bad request: " + why);
  c.write(error_reply(why + "; send one line: " + kRequests), true);
}

void ControlServer::on_closed(StreamConnection& c) {
  std::erase_if(waiters_, [&](const Waiter& w) { return w.connection == &c; });
  // A self-upgrade's answer to a client that left goes nowhere.
  std::erase_if(self_upgrade_clients_, [&](const std::weak_ptr<StreamConnection*>& w) {
    auto client = w.lock();
    if (client && *client == &c) *client = nullptr;
    return !client || *client == nullptr;
  });
  server_.forget(c);
}

void ControlServer::handle(StreamConnection& c, const std::string& line) {
  const auto words = words_of(line);
  const std::string command = words.empty() ? "" : words[0];
  if (command == "status" && words.size() == 1) {
    spdlog::debug("control socket: status");
    SupervisorReport report = supervisor_->report();
    add_os_facts(report, facts_.listeners);
    return c.write(reply({{"ok", true}, {"status", status_json(report, facts_)}}), true);
  }
  if (command == "upgrade" && words.size() == 2 && words[1] == "self") return handle_self_upgrade(c);
  if (command == "upgrade" && only_words(words, {"wait"})) return handle_upgrade(c, has_word(words, "wait"));
  if (command == "stop" && only_words(words, {"fast", "wait"}))
    return handle_stop(c, has_word(words, "fast"), has_word(words, "wait"));
  unknown_.log("control socket: unknown request \"" + printable(line.substr(0, 64)) + "\"");
  c.write(error_reply("unknown request \"" + line.substr(0, 64) + "\"; send one of: " + kRequests), true);
}

void ControlServer::handle_upgrade(StreamConnection& c, bool wait) {
  spdlog::info("control socket: upgrade requested{}", wait ? " (the client waits for its result)" : "");
  if (wait) waiters_.push_back({&c, 0});
  const auto outcome = supervisor_->request_upgrade("baton upgrade");
  if (outcome == Supervisor::UpgradeRequest::kRefused) {
    std::erase_if(waiters_, [&](const Waiter& w) { return w.connection == &c; });
    return c.write(error_reply("baton is stopping; it takes no more upgrades"), true);
  }
  if (!wait)
    c.write(reply({{"ok", true}, {"upgrade", outcome == Supervisor::UpgradeRequest::kStarted ? "started" : "queued"}}),
            true);
}

void ControlServer::handle_self_upgrade(StreamConnection& c) {
  spdlog::info("control socket: self-upgrade requested");
  if (!self_upgrade_) return c.write(error_reply("this baton cannot upgrade itself"), true);
  // SelfUpgrade decides (one at a time); this only finds the client again.
  auto client = std::make_shared<StreamConnection*>(&c);
  self_upgrade_clients_.push_back(client);
  self_upgrade_(
      [this, client] {
        // Now and whole: the exec follows at once, and closes this connection.
        const std::string r = reply({{"ok", true},
                                     {"self_upgrade", "handing over"},
                                     {"pid", ::getpid()},
                                     {"self_upgrades", facts_.self_upgrades + 1}});
        if (*client) (void)::send((*client)->fd(), r.data(), r.size(), MSG_NOSIGNAL);
      },
      [client](const std::string& why) {
        spdlog::error("self-upgrade refused: {}", why);
        if (*client) (*client)->write(error_reply(why), true);
      });
}

void ControlServer::handle_stop(StreamConnection& c, bool fast, bool wait) {
  spdlog::info("control socket: {} stop requested", fast ? "fast" : "graceful");
  // With wait, the connection stays open: the client sees it close when baton exits.
  c.write(reply({{"ok", true}, {"pid", ::getpid()}}), !wait);
  supervisor_->request_stop(fast, fast ? "baton stop --fast" : "baton stop");
}

void ControlServer::upgrade_started(const UpgradeRecord& u) {
  for (auto& w : waiters_)
    if (w.sequence == 0) w.sequence = u.sequence;
}

void ControlServer::upgrade_finished(const UpgradeRecord& u) {
  answer_waiters(u.sequence, u.committed() ? "" : u.reason, &u);
}

void ControlServer::stopping() { answer_waiters(0, "baton is stopping; the upgrade did not run", nullptr); }

// Answers the waiters of upgrade `sequence` (0: every waiter left).
void ControlServer::answer_waiters(std::uint64_t sequence, const std::string& error, const UpgradeRecord* u) {
  std::vector<StreamConnection*> answered;
  std::erase_if(waiters_, [&](const Waiter& w) {
    if (sequence != 0 && w.sequence != sequence) return false;
    answered.push_back(w.connection);
    return true;
  });
  nlohmann::json j = {{"ok", error.empty()}};
  if (u) j["upgrade"] = upgrade_json(*u);
  if (!error.empty()) j["error"] = error;
  for (StreamConnection* c : answered) c->write(reply(j), true);
}

}  // namespace baton
