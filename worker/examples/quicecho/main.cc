// quicecho: the example QUIC worker, an echo server on ngtcp2 and GnuTLS.
// Each stream a client opens and finishes is answered with what it sent and
// the answering worker. Its connection ids carry baton's flow tag, so under
// baton's flow steering (worker/README.md, "UDP flows") every connection
// lives through upgrades in drain mode: the old worker serves the
// connections it holds, from its inbox, until they close. (A QUIC
// connection's TLS state cannot be saved, so quicecho does not hand off.)
// Runs alone too, with --listen.
#include <CLI/CLI.hpp>
#include <gnutls/gnutls.h>
#include <uv.h>

#include <cstdio>
#include <unistd.h>

#include "baton/worker.h"
#include "echo_server.h"
#include "quic_common.h"

namespace {

void log(const std::string& line) {
  std::fprintf(stderr, "quicecho[%d]: %s\n", static_cast<int>(::getpid()), line.c_str());
}

int fail(baton::Worker* w, const std::string& why) {
  if (w) (void)w->report_error(why);
  log(why);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"quicecho: a QUIC echo server whose connections live through baton's upgrades"};
  std::string listen = "quic=udp://127.0.0.1:4433";
  bool steering = true;
  app.add_option("-l,--listen", listen, "when run without baton: NAME=URL to bind (default quic=udp://127.0.0.1:4433)")
      ->type_name("NAME=URL");
  app.add_flag("!--no-steering", steering, "do not take part in baton's flow steering");
  CLI11_PARSE(app, argc, argv);

  gnutls_certificate_credentials_t credentials = nullptr;
  if (auto error = quicecho::make_server_credentials(&credentials); !error.empty()) return fail(nullptr, error);
  uv_loop_t* loop = uv_default_loop();
  auto worker = baton::Worker::create(loop, {.name = "quicecho 0.1.0", .standalone_listen = {listen}});
  if (!worker) return fail(nullptr, worker.status().message());
  baton::Worker& w = **worker;
  const std::string listener = w.listeners().empty() ? "quic" : w.listeners().front().spec.name;
  auto fd = w.take_listener(listener);
  if (!fd) return fail(&w, fd.status().message());
  quicecho::EchoServer server(loop, w, listener, credentials);
  if (auto st = server.open(std::move(fd.value())); !st) return fail(&w, st.message());
  if (steering)
    w.on_flows({
        .classify = [&](std::string_view, const sockaddr*, std::span<const std::uint8_t> d) { return server.owner(d); },
        .deliver = [&](std::string_view, const sockaddr* from, std::span<const std::uint8_t> d) { server.serve(from, d); },
    });
  w.on_drain([&](const baton::DrainRequest& d) {
    log("draining: " + std::to_string(server.connections()) + " connections left, " +
        std::to_string(d.deadline.count()) + " ms to finish them");
    server.drain(d.deadline, [] { log("connections done; exiting"); });
  });
  if (auto st = w.ready(); !st) return fail(nullptr, st.message());
  server.start_reading();
  log("serving QUIC on " + listener + " (flow tag " + std::to_string(w.flow_tag()) + ")");
  uv_run(loop, UV_RUN_DEFAULT);
  gnutls_certificate_free_credentials(credentials);
  return 0;
}
