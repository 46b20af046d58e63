// The control socket: how `baton status`, `baton upgrade` and `baton stop`
// reach a running baton. A unix stream socket, mode 0600 in a 0700
// directory; each peer's uid is checked with SO_PEERCRED (root and baton's
// own uid only) and refusals are logged.
//
// One request per connection: a line of text, at most 1 KiB, within 5 s.
//
//   status                  {"ok":true,"status":{...}}        (status_json.h)
//   upgrade                 {"ok":true,"upgrade":"started"|"queued"}
//   upgrade wait            once that upgrade (or the one it joined) ends:
//                           {"ok":true|false,"upgrade":{...},"error":"<reason>"}
//   stop [fast] [wait]      {"ok":true,"pid":N}; with wait the connection stays
//                           open until baton exits
//
// Errors: {"ok":false,"error":"..."}. Try it with
//   echo status | socat - UNIX-CONNECT:/run/baton/NAME.sock
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "baton/listener_socket.h"
#include "handover_table.h"
#include "repeated_log.h"
#include "status_json.h"
#include "stream_server.h"
#include "supervisor.h"
#include "supervisor_observer.h"

namespace baton {

class ControlServer final : public SupervisorObserver, private StreamConnection::Events {
 public:
  // Binds the socket at `facts.control_socket` (removing a stale one, refusing
  // one a live process answers on). Nothing is accepted before serve().
  static Result<std::unique_ptr<ControlServer>> open(uv_loop_t* loop, ServiceFacts facts);
  // On a socket bound already (baton upgrade --self).
  static std::unique_ptr<ControlServer> adopt(uv_loop_t* loop, ServiceFacts facts, BoundListener socket) {
    return std::unique_ptr<ControlServer>(new ControlServer(loop, std::move(facts), std::move(socket)));
  }
  // For the handover table: the listening socket (its file is removed at exit by whoever owns it then).
  HandoverSocket handover_socket() const { return {server_.spec().to_string(), server_.fd(), true}; }
  const ServiceFacts& facts() const { return facts_; }
  // `upgrade self`: runs `self_upgrade`, which calls `answer` just before
  // baton re-executes itself, or `refused(why)` (now, or once its check ended).
  using SelfUpgrade = std::function<void(std::function<void()> answer,
                                         std::function<void(const std::string& why)> refused)>;
  void on_self_upgrade(SelfUpgrade self_upgrade) { self_upgrade_ = std::move(self_upgrade); }
  ~ControlServer();

  // Starts answering requests on behalf of `supervisor` (which must outlive
  // this server, or be gone only after the loop stopped).
  Status serve(Supervisor& supervisor);

  // SupervisorObserver: answers the clients that wait for an upgrade.
  void upgrade_started(const UpgradeRecord& u) override;
  void upgrade_finished(const UpgradeRecord& u) override;
  void stopping() override;

 private:
  // A client of `upgrade wait`; sequence 0 until the upgrade it joined starts.
  struct Waiter {
    StreamConnection* connection;
    std::uint64_t sequence;
  };

  ControlServer(uv_loop_t* loop, ServiceFacts facts, BoundListener socket);
  bool peer_allowed(StreamConnection& c);
  void on_request_bytes(StreamConnection& c, std::string_view request, std::size_t fresh) override;
  void on_bad_request(StreamConnection& c, Bad kind, const std::string& why) override;
  void on_closed(StreamConnection& c) override;
  void handle(StreamConnection& c, const std::string& line);
  void handle_upgrade(StreamConnection& c, bool wait);
  void handle_stop(StreamConnection& c, bool fast, bool wait);
  void handle_self_upgrade(StreamConnection& c);
  void answer_waiters(std::uint64_t sequence, const std::string& error, const UpgradeRecord* u);

  ServiceFacts facts_;
  SelfUpgrade self_upgrade_;
  StreamServer server_;  // owns the socket file: removed when baton exits
  Supervisor* supervisor_ = nullptr;
  std::vector<Waiter> waiters_;
  // Clients of `upgrade self` whose answer is pending (null once they left).
  std::vector<std::weak_ptr<StreamConnection*>> self_upgrade_clients_;
  // What a looping client could flood the log with: one of each kind per burst, then counts.
  RepeatedLog refused_peers_, too_long_, too_slow_, unknown_;
};

}  // namespace baton
