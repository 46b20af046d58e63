// kvstore: the example worker. An HTTP/1.1 key-value store that runs under
// baton (listeners, READY, DRAIN, and in handoff mode its store and open
// connections move to the next binary) or alone with --listen.
//
// main() reads top to bottom as what a worker does: parse flags, connect to
// baton, listen, say how to drain and how to hand off, then READY and run.
#include <CLI/CLI.hpp>
#include <cereal/archives/portable_binary.hpp>
#include <uv.h>

#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <unistd.h>

#include "baton/uv_handle.h"
#include "baton/worker.h"
#include "http_server.h"
#include "kv_snapshot.h"
#include "kv_state.h"

#ifndef KVSTORE_STATE_VERSION
#define KVSTORE_STATE_VERSION 2
#endif
CEREAL_CLASS_VERSION(kvstore::KvState, KVSTORE_STATE_VERSION)

namespace {

using baton::DrainRequest;
using kvstore::HttpServer;

void log(const std::string& line) {
  std::fprintf(stderr, "kvstore[%d]: %s\n", static_cast<int>(::getpid()), line.c_str());
}

struct Flags {
  std::vector<std::string> listen{"http=tcp://127.0.0.1:8080"};
  unsigned standalone_drain_ms = 30'000;
  std::vector<std::uint32_t> extra_versions;
  unsigned crash_after_ms = 0;
  bool unhealthy = false;
  bool debug_leak = false;
  bool precopy = true;
};

// --crash-after: a build that fails soon after taking over, to try baton's
// --probation on. Armed once this worker serves.
class CrashLater {
 public:
  CrashLater(uv_loop_t* loop, unsigned ms) : loop_(loop), ms_(ms) {}
  void arm() {
    if (ms_ == 0 || !timer_.init(loop_, uv_timer_init, nullptr)) return;
    uv_timer_start(timer_.get(), [](uv_timer_t*) {
      log("crashing on purpose (--crash-after)");
      std::_Exit(70);
    }, ms_, 0);
  }

 private:
  uv_loop_t* loop_;
  unsigned ms_;
  baton::UvHandle<uv_timer_t> timer_;
};

// How kvstore stops: by DRAIN from baton, or by SIGTERM/SIGINT when alone.
class Stopping {
 public:
  Stopping(uv_loop_t* loop, baton::Worker& worker, HttpServer& server, std::chrono::milliseconds signal_deadline)
      : worker_(worker), server_(server), signal_deadline_(signal_deadline) {
    for (auto [handle, signum] : {std::pair{&sigterm_, SIGTERM}, std::pair{&sigint_, SIGINT}}) {
      if (!handle->init(loop, uv_signal_init, this)) continue;
      uv_signal_start(handle->get(), [](uv_signal_t* s, int n) {
        if (auto* self = static_cast<Stopping*>(s->data))
          self->drain(self->signal_deadline_, std::string("SIG") + sigabbrev_np(n), true);
      }, signum);
    }
  }

  // A signal while draining means "now" (baton's SIGTERM after the deadline,
  // a second Ctrl-C); a DRAIN while draining (Ctrl-C reached us and baton
  // both) changes nothing.
  void drain(std::chrono::milliseconds deadline, const std::string& why, bool by_signal) {
    if (server_.draining()) {
      if (!by_signal) return;
      log("stopping now (" + why + ")");
      return server_.stop_now();
    }
    server_.close_listeners();
    if (by_signal) worker_.finish();  // not baton's DRAIN: let the loop end without it
    log("draining (" + why + "): listeners closed; finishing open connections within " +
        std::to_string(deadline.count()) + " ms");
    server_.drain(deadline, [this] {
      log("drained; exiting");
      stop_watching_signals();
    });
  }
  // Nothing else keeps the loop alive once the server has closed everything.
  void stop_watching_signals() {
    sigterm_.close();
    sigint_.close();
  }

 private:
  baton::Worker& worker_;
  HttpServer& server_;
  std::chrono::milliseconds signal_deadline_;
  baton::UvHandle<uv_signal_t> sigterm_, sigint_;
};

void drain_on_request(baton::Worker& w, Stopping& stopping) {
  w.on_drain([&](const DrainRequest& d) {
    stopping.drain(d.deadline, d.reason == DrainRequest::Reason::kDrain ? "DRAIN from baton" : "baton is gone", false);
  });
}

// Old side of a handoff: the store and every open connection move to the next binary.
void hand_off_on_request(baton::Worker& w, HttpServer& server, Stopping& stopping, bool precopy) {
  baton::HandoffSource source{
      .state_version = KVSTORE_STATE_VERSION,
      .quiesce = [&](std::function<void()> quiesced) { server.quiesce(std::move(quiesced)); },
      .save_state =
          [&](std::ostream& out) {
            cereal::PortableBinaryOutputArchive archive(out);
            archive(server.state());
          },
      .export_connections = [&] { return server.export_connections(); },
      .resume =
          [&] {
            log("handoff abandoned: serving again");
            server.resume();
          },
      .committed =
          [&] {
            log("handed off; exiting");
            server.abandon();
            stopping.stop_watching_signals();
          },
      .park =
          [&] {
            log("handed off; parked with " + std::to_string(server.state().store.size()) +
                " keys while the successor is on probation");
            server.park();
          },
  };
  // With pre-copy the store streams while we serve; the pause carries only what changed.
  if (precopy) {
    source.start_snapshot = [&] { return std::make_unique<kvstore::KvSnapshot>(server.state(), KVSTORE_STATE_VERSION); };
    source.open_connections = [&] { return server.open_connections(); };
  }
  w.on_handoff(std::move(source));
}

// New side: load the predecessor's store (any schema up to ours, plus
// --accept-state-version) and adopt its connections; serve on COMMIT.
void restore_on_request(baton::Worker& w, HttpServer& server, const Flags& flags, CrashLater& crash) {
  std::vector<std::uint32_t> loads;
  for (std::uint32_t v = 1; v <= KVSTORE_STATE_VERSION; ++v) loads.push_back(v);
  loads.insert(loads.end(), flags.extra_versions.begin(), flags.extra_versions.end());
  baton::HandoffTarget target{
      .state_versions = loads,
      .load_state =
          [&](std::istream& in, std::uint32_t) {
            cereal::PortableBinaryInputArchive archive(in);
            archive(server.state());
          },
      .adopt_connections = [&](std::vector<baton::HandedConnection> c) { server.adopt_connections(std::move(c)); },
      .commit =
          [&] {
            log("committed: serving " + std::to_string(server.state().store.size()) + " keys");
            server.start_serving();
            crash.arm();
          },
  };
  if (flags.precopy) {
    target.load_snapshot = [&](std::istream& in, std::uint32_t) { kvstore::load_snapshot(server.state(), in); };
    target.load_changes = [&](std::istream& in, std::uint32_t v) { kvstore::load_changes(server.state(), in, v); };
    target.prepare_connections = [&](std::vector<baton::AheadConnection> c) { server.prepare_connections(std::move(c)); };
  }
  w.on_restore(std::move(target));
}

void declare_flags(CLI::App& app, Flags& flags) {
  app.add_option("-l,--listen", flags.listen,
                 "when run without baton: NAME=URL to bind (default http=tcp://127.0.0.1:8080)")
      ->type_name("NAME=URL");
  app.add_option("--drain-ms", flags.standalone_drain_ms,
                 "when run without baton: how long SIGTERM lets connections finish");
  app.add_option("--crash-after", flags.crash_after_ms,
                 "exit with status 70 this many ms after starting to serve (to try baton --probation)")
      ->type_name("MS");
  app.add_flag("--debug-leak", flags.debug_leak,
               "serve PUT /debug/leak with a number of MiB in the body: this process keeps that much more\n"
               "memory of its own, not state (to try baton --recycle-memory)");
  app.add_flag("--unhealthy", flags.unhealthy,
               "answer GET /healthz with 500 (to try baton --probation-check)");
  app.add_option("--accept-state-version", flags.extra_versions,
                 "handoff mode: also load this (newer) state version, repeatable; this build writes version " +
                     std::to_string(KVSTORE_STATE_VERSION));
  app.add_flag("!--no-precopy", flags.precopy,
               "handoff mode: send the whole store in the pause, as workers without pre-copy do "
               "(by default it streams while serving and the pause carries only what changed)");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kvstore: example baton worker, an HTTP/1.1 key-value store.\n"
               "Under baton it serves the listeners baton passes; alone it binds --listen."};
  Flags flags;
  declare_flags(app, flags);
  CLI11_PARSE(app, argc, argv);
  // A write to a client that reset, or to stderr once baton (which reads it)
  // is gone, must fail with EPIPE, not kill the process with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);

  uv_loop_t* loop = uv_default_loop();
  auto worker = baton::Worker::create(loop, {.name = "kvstore 0.1.0", .standalone_listen = flags.listen});
  if (!worker) {
    log(worker.status().message());
    return 1;
  }
  baton::Worker& w = **worker;

  HttpServer server(loop, {.pid = ::getpid(), .generation = w.generation(), .worker_index = w.index(),
                           .state_version = KVSTORE_STATE_VERSION, .unhealthy = flags.unhealthy,
                           .debug_leak = flags.debug_leak});
  for (auto& l : w.listeners()) {
    if (baton::Status st = server.listen(std::move(l.fd), l.spec); !st) {
      log(st.message());
      return 1;
    }
    log("serving " + l.spec.to_string());
  }

  server.on_connection_count([&w](std::size_t n) { w.report_connections(n); });
  Stopping stopping(loop, w, server, std::chrono::milliseconds(flags.standalone_drain_ms));
  drain_on_request(w, stopping);
  hand_off_on_request(w, server, stopping, flags.precopy);
  CrashLater crash(loop, flags.crash_after_ms);
  restore_on_request(w, server, flags, crash);
  w.on_inherit([&](std::vector<baton::InheritedConnection> c) {
    log("serving " + std::to_string(c.size()) + " connections of a hung predecessor");
    server.serve_inherited(std::move(c));
  });

  // While a predecessor's state is on its way, accept nothing: COMMIT starts it.
  if (!w.awaiting_handoff()) server.start_accepting();
  if (baton::Status st = w.ready(); !st) {
    log("could not report READY: " + st.message());
    return 1;
  }
  if (!w.awaiting_handoff()) crash.arm();
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}
