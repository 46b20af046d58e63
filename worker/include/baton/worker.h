// libbaton: what a worker process needs to run under the baton supervisor.
//
//   uv_loop_t* loop = uv_default_loop();
//   auto worker = baton::Worker::create(loop, {.name = "myapp 1.0",
//                                              .standalone_listen = {"http=tcp://127.0.0.1:8080"}});
//   if (!worker) { fprintf(stderr, "%s\n", worker.status().message().c_str()); return 1; }
//   baton::UniqueFd fd = (*worker)->take_listener("http").value();
//   ... uv_tcp_open(&server, fd.release()); uv_listen(...);
//   (*worker)->on_drain([&](const baton::DrainRequest& d) { stop_accepting(); finish_within(d.deadline); });
//   (*worker)->ready();
//   uv_run(loop, UV_RUN_DEFAULT);
//
// Under baton (BATON_CHANNEL_FD in the environment) create() says HELLO and
// receives the listening sockets; started by hand it binds the sockets named
// in `standalone_listen` itself, so the same binary runs alone on a laptop.
// Everything happens on the loop's thread.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "baton/channel.h"
#include "baton/listener_socket.h"
#include "baton/listener_spec.h"
#include "baton/status.h"
#include "baton/unique_fd.h"
#include "baton/uv_handle.h"

namespace baton {

// A listening socket this worker was given (or bound itself when standalone).
struct WorkerListener {
  ListenerSpec spec;  // name, kind and address
  UniqueFd fd;        // empty once taken
};

struct DrainRequest {
  enum class Reason {
    kDrain,           // the supervisor asked (an upgrade or a stop)
    kSupervisorGone,  // the channel closed: baton died; finish up, do not linger
  };
  Reason reason = Reason::kDrain;
  // When this runs out, close connections that are still idle and exit.
  // libbaton gives the application the supervisor's deadline minus a margin
  // (a tenth, at most 1 s), so a well-behaved worker is gone before SIGTERM.
  std::chrono::milliseconds deadline{0};
};

class Worker {
 public:
  struct Options {
    std::string name;                            // shown in baton's logs, e.g. "kvstore 0.1.0"
    std::vector<std::string> standalone_listen;  // "NAME=URL" specs bound when not under baton
    std::chrono::milliseconds handshake_timeout{10'000};
    // Deadline handed to on_drain when the supervisor disappears.
    std::chrono::milliseconds orphan_deadline{5'000};
  };

  // Connects to the supervisor (or binds standalone listeners). Blocks at
  // most handshake_timeout. Errors say what is wrong with the environment.
  static Result<std::unique_ptr<Worker>> create(uv_loop_t* loop, Options options);
  ~Worker();

  bool supervised() const { return channel_.valid(); }
  std::uint64_t generation() const { return generation_; }  // 0 when standalone
  std::uint32_t index() const { return index_; }

  std::vector<WorkerListener>& listeners() { return listeners_; }
  // Takes the fd of the listener called `name`; the caller owns it from now on.
  Result<UniqueFd> take_listener(std::string_view name);

  // Called once, when it is time to stop accepting and finish.
  void on_drain(std::function<void(const DrainRequest&)> callback) { on_drain_ = std::move(callback); }
  // Tells the supervisor this worker accepts connections now. Call once,
  // after listening; until then the previous generation keeps serving.
  Status ready();
  // Tells the supervisor this worker cannot start (bad config, missing data…)
  // before READY: baton logs `message` and keeps the previous generation.
  // The worker should exit afterwards.
  Status report_error(const std::string& message);

 private:
  Worker(uv_loop_t* loop, Options options);
  Status handshake(UniqueFd channel_fd);
  Status bind_standalone();
  void watch_channel();
  void read_channel();
  void deliver_drain(const DrainRequest& request);

  uv_loop_t* loop_;
  Options options_;
  std::uint64_t generation_ = 0;
  std::uint32_t index_ = 0;
  std::vector<WorkerListener> listeners_;
  std::vector<BoundListener> standalone_;  // keeps unix socket paths owned while standalone
  std::function<void(const DrainRequest&)> on_drain_;
  bool ready_sent_ = false;
  bool drain_delivered_ = false;
  Channel channel_;
  UvHandle<uv_poll_t> poll_;  // after channel_: stops watching before the fd closes
};

}  // namespace baton
