#include "client_commands.h"

#include <cerrno>
#include <iostream>
#include <optional>
#include <thread>

#include "control_client.h"
#include "control_path.h"
#include "duration.h"
#include "handover_table.h"
#include "status_text.h"

namespace baton {
namespace {

// How long a plain request may take: baton answers status at once.
constexpr std::chrono::milliseconds kAnswerTimeout{10'000};

int fail(const Status& st) {
  std::cerr << "baton: " << st.message() << "\n";
  return st.error_number() == ETIMEDOUT ? client_exit::kTimedOut : client_exit::kUnreachable;
}

// Connects and sends `request`; the reply, or the exit code to leave with.
struct Exchange {
  std::optional<ControlClient> client;
  nlohmann::json reply;
  int exit_code = client_exit::kOk;
};

Exchange exchange(const ClientOptions& o, const std::string& request, std::chrono::milliseconds timeout) {
  Exchange x;
  auto path = client_control_path(o.name, o.control);
  if (!path) return {.exit_code = fail(path.status())};
  auto client = ControlClient::connect(*path);
  if (!client) return {.exit_code = fail(client.status())};
  auto reply = client->ask(request, timeout);
  if (!reply) return {.exit_code = fail(reply.status())};
  x.client.emplace(std::move(client.value()));
  x.reply = std::move(reply.value());
  if (!x.reply.value("ok", false)) {
    // A failed upgrade is told by its record (run_upgrade); anything else here.
    if (!x.reply.contains("upgrade"))
      std::cerr << "baton: " << x.reply.value("error", "baton refused the request") << "\n";
    x.exit_code = client_exit::kFailed;
  }
  return x;
}

// status --ready: what /readyz says, as an exit code (for HEALTHCHECK, scripts).
int ready_check(const nlohmann::json& status) {
  if (status.value("ready", false)) {
    std::cout << "ready: generation " << status.value("serving_generation", 0) << " serving\n";
    return client_exit::kOk;
  }
  std::cout << "not ready: " << status.value("not_ready_reason", std::string("unknown")) << "\n";
  return client_exit::kFailed;
}

// The status of whatever baton answers on the socket now; none (quietly)
// while it is re-executing itself.
std::optional<nlohmann::json> status_now(const std::string& path) {
  auto client = ControlClient::connect(path);
  if (!client) return std::nullopt;
  auto reply = client->ask("status", kAnswerTimeout);
  if (!reply || !reply->value("ok", false)) return std::nullopt;
  return (*reply)["status"];
}

// upgrade --self: baton answers just before it re-executes; the new baton
// then answers with its self-upgrade count one higher.
int run_self_upgrade(const ClientOptions& o) {
  // The answer comes once the new binary's check has passed, or failed.
  Exchange x = exchange(o, "upgrade self", kHandoverCheckDeadline + kAnswerTimeout);
  if (x.exit_code != client_exit::kOk) return x.exit_code;
  const std::uint64_t expected = x.reply.value("self_upgrades", 0u);
  const auto path = client_control_path(o.name, o.control);
  const auto limit = o.timeout.count() > 0 ? o.timeout : std::chrono::milliseconds(30'000);
  for (const auto deadline = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < deadline;) {
    // The control socket stays bound across the exec: a connection waits in its backlog until the new baton accepts.
    auto status = status_now(*path);
    if (!status) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // no baton bound yet: do not spin
    if (status && status->value("self_upgrades", 0u) >= expected) {
      std::cout << "baton (pid " << status->value("pid", 0) << ") re-executed itself in place: version "
                << status->value("version", "?") << ", serving generation " << status->value("serving_generation", 0)
                << " with the same workers\n";
      return client_exit::kOk;
    }
  }
  std::cerr << "baton: the new baton did not answer within " << format_duration(limit) << "; see baton's log\n";
  return client_exit::kTimedOut;
}

}  // namespace

int run_status(const ClientOptions& o) {
  Exchange x = exchange(o, "status", kAnswerTimeout);
  if (x.exit_code != client_exit::kOk) return x.exit_code;
  const auto& status = x.reply["status"];
  if (o.ready) return ready_check(status);
  std::cout << (o.json ? status.dump(2) + "\n" : status_text(status));
  return client_exit::kOk;
}

int run_upgrade(const ClientOptions& o) {
  if (o.self) return run_self_upgrade(o);
  Exchange x = exchange(o, o.wait ? "upgrade wait" : "upgrade", o.wait ? o.timeout : kAnswerTimeout);
  if (x.exit_code == client_exit::kTimedOut) std::cerr << "baton: the upgrade goes on; follow it with: baton status\n";
  if (!x.reply.contains("upgrade")) return x.exit_code;  // the error is printed
  if (!o.wait) {
    std::cout << (x.reply["upgrade"] == "started" ? "upgrade started" : "upgrade queued: it follows the one running")
              << "; follow it with: baton status, or wait for it: baton upgrade --wait\n";
    return x.exit_code;
  }
  // The same words as baton's log line about this upgrade.
  (x.exit_code == client_exit::kOk ? std::cout : std::cerr) << upgrade_text(x.reply["upgrade"]) << "\n";
  if (x.exit_code == client_exit::kFailed && !x.reply["upgrade"].value("memory", nlohmann::json()).is_null())
    return client_exit::kNoMemory;
  return x.exit_code;
}

int run_stop(const ClientOptions& o) {
  Exchange x = exchange(o, std::string("stop") + (o.fast ? " fast" : "") + (o.wait ? " wait" : ""), kAnswerTimeout);
  if (x.exit_code != client_exit::kOk) return x.exit_code;
  const std::string who = "baton (pid " + x.reply["pid"].dump() + ")";
  if (!o.wait) {
    std::cout << who << " is stopping" << (o.fast ? " fast" : ", draining its workers") << "\n";
    return client_exit::kOk;
  }
  std::cout << who << " is stopping" << (o.fast ? " fast" : ", draining its workers") << "..." << std::flush;
  if (!x.client->wait_closed(o.timeout)) {
    std::cout << "\n";
    std::cerr << "baton: still stopping after " << format_duration(o.timeout) << "; it goes on\n";
    return client_exit::kTimedOut;
  }
  std::cout << " stopped\n";
  return client_exit::kOk;
}

}  // namespace baton
