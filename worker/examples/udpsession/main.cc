// udpsession: the example UDP worker. Sessions over UDP (session_protocol.h)
// whose datagrams any worker may read from the shared socket; baton's flow
// steering brings each to the worker that holds its session, so sessions
// live through upgrades in both modes (in handoff mode they move with the
// state). Runs alone too, with --listen.
#include <CLI/CLI.hpp>
#include <uv.h>

#include <cstdio>
#include <sstream>
#include <unistd.h>

#include "baton/worker.h"
#include "session_server.h"

namespace {

using udpsession::SessionServer;

void log(const std::string& line) {
  std::fprintf(stderr, "udpsession[%d]: %s\n", static_cast<int>(::getpid()), line.c_str());
}

struct Flags {
  std::string listen = "udp=udp://127.0.0.1:7000";
  unsigned idle_ms = 10'000;
  bool steering = true;
};

void steer_flows(baton::Worker& w, SessionServer& server) {
  w.on_flows({
      .classify = [&](std::string_view, const sockaddr*, std::span<const std::uint8_t> d) { return server.owner(d); },
      .deliver = [&](std::string_view, const sockaddr* from, std::span<const std::uint8_t> d) { server.serve(from, d); },
  });
}

void drain_on_request(baton::Worker& w, SessionServer& server) {
  w.on_drain([&](const baton::DrainRequest& d) {
    log("draining: " + std::to_string(server.sessions()) + " sessions left, " + std::to_string(d.deadline.count()) +
        " ms to finish them");
    server.drain(d.deadline, [&] { log("sessions done; exiting"); });
  });
}

// Handoff mode: the sessions (and the id counter) move with the state; the
// successor keeps our flow tag, so their ids still name the right worker.
void hand_off_on_request(baton::Worker& w, SessionServer& server) {
  w.on_handoff({
      .quiesce = [&](std::function<void()> quiesced) { server.stop_reading(), quiesced(); },
      .save_state = [&](std::ostream& out) { server.save(out); },
      .export_connections = [] { return std::vector<baton::ExportedConnection>{}; },
      .resume = [&] { server.start_reading(); },
      .committed = [&] {
        log("handed off " + std::to_string(server.sessions()) + " sessions; exiting");
        server.close();
      },
  });
  w.on_restore({
      .load_state = [&](std::istream& in, std::uint32_t) { server.load(in); },
      .adopt_connections = [](std::vector<baton::HandedConnection>) {},
      .commit = [&] {
        log("committed: serving " + std::to_string(server.sessions()) + " sessions");
        server.start_reading();
      },
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"udpsession: sessions over UDP that live through baton's upgrades"};
  Flags flags;
  app.add_option("-l,--listen", flags.listen, "when run without baton: NAME=URL to bind (default udp=udp://127.0.0.1:7000)")
      ->type_name("NAME=URL");
  app.add_option("--idle-ms", flags.idle_ms, "a session silent this long ends (default 10000)");
  app.add_flag("!--no-steering", flags.steering, "do not take part in baton's flow steering (each worker serves what it reads)");
  CLI11_PARSE(app, argc, argv);

  uv_loop_t* loop = uv_default_loop();
  auto worker = baton::Worker::create(loop, {.name = "udpsession 0.1.0", .standalone_listen = {flags.listen}});
  if (!worker) return log(worker.status().message()), 1;
  baton::Worker& w = **worker;
  const std::string listener = w.listeners().empty() ? "udp" : w.listeners().front().spec.name;
  auto fd = w.take_listener(listener);
  if (!fd) return (void)w.report_error(fd.status().message()), log(fd.status().message()), 1;
  SessionServer server(loop, w, listener, std::chrono::milliseconds(flags.idle_ms));
  if (auto st = server.open(std::move(fd.value())); !st) return (void)w.report_error(st.message()), log(st.message()), 1;
  if (flags.steering) steer_flows(w, server);
  drain_on_request(w, server);
  hand_off_on_request(w, server);
  if (auto st = w.ready(); !st) return log(st.message()), 1;
  if (!w.awaiting_handoff()) server.start_reading();
  log("serving sessions on " + listener + " (flow tag " + std::to_string(w.flow_tag()) + ")");
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}
