// kvstore: the example worker. An HTTP/1.1 key-value store that runs under
// baton (listeners, READY, DRAIN, and in handoff mode its store and open
// connections move to the next binary) or alone with --listen.
#include <CLI/CLI.hpp>
#include <cereal/archives/portable_binary.hpp>
#include <uv.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <unistd.h>

#include "baton/worker.h"
#include "http_server.h"
#include "kv_state.h"

#ifndef KVSTORE_STATE_VERSION
#define KVSTORE_STATE_VERSION 2
#endif
CEREAL_CLASS_VERSION(kvstore::KvState, KVSTORE_STATE_VERSION)

namespace {

void log(const std::string& line) {
  std::fprintf(stderr, "kvstore[%d]: %s\n", static_cast<int>(::getpid()), line.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kvstore: example baton worker, an HTTP/1.1 key-value store.\n"
               "Under baton it serves the listeners baton passes; alone it binds --listen."};
  std::vector<std::string> listen{"http=tcp://127.0.0.1:8080"};
  app.add_option("-l,--listen", listen, "when run without baton: NAME=URL to bind (default http=tcp://127.0.0.1:8080)")
      ->type_name("NAME=URL");
  unsigned standalone_drain_ms = 30'000;
  app.add_option("--drain-ms", standalone_drain_ms, "when run without baton: how long SIGTERM lets connections finish");
  std::vector<std::uint32_t> extra_versions;
  app.add_option("--accept-state-version", extra_versions,
                 "handoff mode: also load this (newer) state version, repeatable; this build writes version " +
                     std::to_string(KVSTORE_STATE_VERSION));
  CLI11_PARSE(app, argc, argv);

  uv_loop_t* loop = uv_default_loop();
  auto worker = baton::Worker::create(loop, {.name = "kvstore 0.1.0", .standalone_listen = listen});
  if (!worker) {
    log(worker.status().message());
    return 1;
  }
  baton::Worker& w = **worker;

  kvstore::HttpServer server(loop, {.pid = ::getpid(), .generation = w.generation(), .worker_index = w.index(),
                                    .state_version = KVSTORE_STATE_VERSION});
  for (auto& l : w.listeners()) {
    if (baton::Status st = server.listen(std::move(l.fd), l.spec); !st) {
      log(st.message());
      return 1;
    }
    log("serving " + l.spec.to_string());
  }

  // Stopping: by DRAIN from baton, or by SIGTERM/SIGINT when alone.
  baton::UvHandle<uv_signal_t> sigterm, sigint;
  auto stop_signals = [&] {
    sigterm.close();
    sigint.close();
  };
  // A signal while draining means "now" (baton's SIGTERM after the deadline,
  // a second Ctrl-C); a DRAIN while draining (Ctrl-C reached us and baton
  // both) changes nothing.
  auto drain = [&](std::chrono::milliseconds deadline, const std::string& why, bool signal) {
    if (server.draining()) {
      if (!signal) return;
      log("stopping now (" + why + ")");
      return server.stop_now();
    }
    log("draining (" + why + "): finishing open connections within " + std::to_string(deadline.count()) + " ms");
    server.drain(deadline, [&] {
      log("drained; exiting");
      stop_signals();
    });
  };
  w.on_drain([&](const baton::DrainRequest& d) {
    drain(d.deadline, d.reason == baton::DrainRequest::Reason::kDrain ? "DRAIN from baton" : "baton is gone", false);
  });

  // Handoff mode: the store and every open connection move to the next binary.
  w.on_handoff({
      .state_version = KVSTORE_STATE_VERSION,
      .quiesce = [&](std::function<void()> quiesced) { server.quiesce(std::move(quiesced)); },
      .save_state =
          [&](std::ostream& out) {
            cereal::PortableBinaryOutputArchive ar(out);
            ar(server.state());
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
            stop_signals();
          },
  });
  std::vector<std::uint32_t> loads;
  for (std::uint32_t v = 1; v <= KVSTORE_STATE_VERSION; ++v) loads.push_back(v);
  loads.insert(loads.end(), extra_versions.begin(), extra_versions.end());
  w.on_restore({
      .state_versions = loads,
      .load_state =
          [&](std::istream& in, std::uint32_t) {
            cereal::PortableBinaryInputArchive ar(in);
            ar(server.state());
          },
      .adopt_connections = [&](std::vector<baton::HandedConnection> c) { server.adopt_connections(std::move(c)); },
      .commit =
          [&] {
            log("committed: serving " + std::to_string(server.state().store.size()) + " keys");
            server.start_serving();
          },
  });

  struct SignalCtx {
    std::function<void(int)> fn;
  } ctx{[&](int signum) {
    drain(std::chrono::milliseconds(standalone_drain_ms), std::string("SIG") + sigabbrev_np(signum), true);
  }};
  for (auto [handle, signum] : {std::pair{&sigterm, SIGTERM}, std::pair{&sigint, SIGINT}}) {
    uv_signal_init(loop, handle->get());
    handle->mark_initialized();
    handle->get()->data = &ctx;
    uv_signal_start(handle->get(), [](uv_signal_t* s, int n) { static_cast<SignalCtx*>(s->data)->fn(n); }, signum);
  }

  // While a predecessor's state is on its way, accept nothing: COMMIT starts it.
  if (!w.awaiting_handoff()) server.start_accepting();
  if (baton::Status st = w.ready(); !st) {
    log("could not report READY: " + st.message());
    return 1;
  }
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}
