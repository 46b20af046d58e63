// kvstore's HTTP server: accepts on the listeners it is given, tracks its
// connections, and
//   drains: stop accepting, answer every request already on its way, then
//     close; silent connections are closed at the deadline;
//   hands off: stop accepting and reading, export connections, and either
//     resume or abandon them; or adopts what a predecessor exported.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "baton/connection.h"
#include "baton/listener_spec.h"
#include "baton/status.h"
#include "baton/unique_fd.h"
#include "baton/uv_handle.h"
#include "http_connection.h"
#include "kv_state.h"
#include "routes.h"

namespace kvstore {

class HttpServer final : private ConnectionOwner {
 public:
  HttpServer(uv_loop_t* loop, ServerFacts facts);
  ~HttpServer();

  // Takes a stream listener (tcp:// or unix://); accepting starts with start_accepting().
  baton::Status listen(baton::UniqueFd fd, const baton::ListenerSpec& spec);
  void start_accepting();
  // Closes our accepting copies; the listening sockets stay open elsewhere
  // (baton, the next generation), and we keep a dup to start again.
  void stop_accepting();

  // Closes every copy of the listening sockets for good: draining is final,
  // and a baton restarted after its predecessor died must be able to bind them.
  void close_listeners();
  // Closes the listeners; `on_done` runs once the last connection has closed
  // (connections still open at `deadline` are closed then).
  void drain(std::chrono::milliseconds deadline, std::function<void()> on_done);
  // Closes every listener and connection now.
  void stop_now();
  bool draining() const override { return draining_; }
  // Told the number of open connections each time it changes (libbaton's report_connections).
  void on_connection_count(std::function<void(std::size_t)> told) { count_told_ = std::move(told); }

  // Handoff, old side.
  void quiesce(std::function<void()> quiesced);  // stop accepting and reading; calls back at once
  std::vector<baton::ExportedConnection> export_connections();
  // Every connection that could be handed over, to lend ahead while a pre-copy runs.
  std::vector<baton::OpenConnection> open_connections() const;
  void resume();   // the handoff was abandoned, or the successor rolled back
  // The successor serves on probation: close what was handed over (no
  // shutdown); closing connections finish their last response. The state
  // and the listeners stay, for resume().
  void park();
  // The successor serves: park(), and close the listeners; then the loop ends.
  void abandon();
  // Handoff, new side: connections wait until start_serving(). Those lent
  // ahead get their handles in prepare_connections(), while the old worker
  // still serves them; adopt_connections() names the ones still open.
  void prepare_connections(std::vector<baton::AheadConnection> connections);
  void adopt_connections(std::vector<baton::HandedConnection> connections);
  // Resumes the adopted connections, busiest first, a batch per loop turn.
  void start_serving();
  // Connections baton took from a hung predecessor: served at once, as if
  // accepted; one the hung worker had read a request on is closed (the rest
  // of that request may follow, and cannot be parsed from its middle).
  void serve_inherited(std::vector<baton::InheritedConnection> connections);

  KvState& state() { return state_; }
  Response leak(const std::string& mib);  // --debug-leak's PUT /debug/leak
  static void on_connection(uv_stream_t* listener, int status);

 private:
  // ConnectionOwner, for the connections.
  uv_loop_t* loop() const override { return loop_; }
  Response handle(const Request& request) override;
  void adopt(HttpConnection* connection) override {
    connections_.insert(connection);
    if (count_told_) count_told_(connections_.size());
  }
  std::uint64_t next_connection_id() override { return ++last_connection_id_; }
  void forget(HttpConnection* connection) override;

  struct Listener {
    baton::ListenerSpec spec;
    baton::UniqueFd spare;  // dup'd again for each start_accepting()
    std::unique_ptr<baton::UvHandle<uv_any_handle>> handle;  // set while accepting
    HttpServer* server = nullptr;
  };
  void maybe_done();
  void resume_next_batch();

  uv_loop_t* loop_;
  ServerFacts facts_;
  KvState state_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unordered_set<HttpConnection*> connections_;
  std::uint64_t last_connection_id_ = 0;
  // Lent ahead by the old worker, by its id; prepared, not yet named in the pause.
  std::unordered_map<std::uint64_t, HttpConnection*> prepared_;
  // Adopted, in the order handed over (the busiest first), not yet resumed.
  std::vector<HttpConnection*> to_resume_;
  std::size_t resumed_ = 0;
  std::unique_ptr<baton::UvHandle<uv_idle_t>> resuming_;  // while batches remain
  bool draining_ = false;
  std::function<void()> on_done_;
  std::function<void(std::size_t)> count_told_;
  // Exported connections that carried queued output: their dup'd fds, and
  // what they held, to serve them again on RESUME.
  std::vector<baton::HandedConnection> detached_;
  baton::Timer deadline_;
  std::vector<std::unique_ptr<char[]>> leaked_;  // --debug-leak
  long leaked_mib_ = 0;
};

}  // namespace kvstore
