#include "service_setup.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "control_path.h"
#include "listener_setup.h"
#include "worker_executable.h"

namespace baton {

SelfImage self_image(int argc, char** argv) {
  SelfImage self{.argv = {argv, argv + argc}};
  auto path = resolve_executable(argv[0]);
  std::error_code ec;
  self.path = path ? std::filesystem::absolute(*path, ec).string() : "/proc/self/exe";
  return self;
}

namespace {

ServiceFacts facts_of(const Options& options, const Setup& setup, const std::string& control) {
  ServiceFacts facts{.name = options.name, .control_socket = control};
  for (const auto& l : setup.listeners) facts.listeners.push_back(l.spec());
  if (setup.metrics) facts.metrics = "http://" + setup.metrics->url().substr(std::string("tcp://").size());
  return facts;
}

// After `baton upgrade --self`: the sockets the previous baton left open.
Result<BoundListener> bound_socket(const HandoverSocket& s) {
  ::fcntl(s.fd, F_SETFD, FD_CLOEXEC);
  auto spec = parse_listener_spec(s.spec);
  if (!spec) return spec.status().with_context("handover table");
  return BoundListener(std::move(spec.value()), UniqueFd(s.fd), s.owns_path);
}

Status adopt_sockets(uv_loop_t* loop, const Options& options, Setup& setup) {
  const HandoverTable& t = *setup.adopted;
  for (const auto& l : t.listeners) {
    auto b = bound_socket(l);
    if (!b) return b.status();
    setup.listeners.push_back(std::move(b.value()));
  }
  if (t.metrics) {
    auto b = bound_socket(*t.metrics);
    if (!b) return b.status();
    setup.metrics = MetricsServer::adopt(loop, std::move(b.value()));
  }
  auto control = bound_socket(t.control);
  if (!control) return control.status();
  ServiceFacts facts = facts_of(options, setup, control->spec().path);
  facts.self_upgrades = t.self_upgrades;
  facts.started -= std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(t.uptime_seconds));
  setup.control = ControlServer::adopt(loop, std::move(facts), std::move(control.value()));
  return Status::ok();
}


// The control socket, and the metrics listener if asked for.
Status open_operation(uv_loop_t* loop, const Options& options, Setup& setup) {
  if (options.metrics) {
    auto metrics = MetricsServer::open(loop, *options.metrics);
    if (!metrics) return metrics.status();
    setup.metrics = std::move(metrics.value());
  }
  auto path = server_control_path(options.name, options.control);
  if (!path) return path.status();
  auto control = ControlServer::open(loop, facts_of(options, setup, *path));
  if (!control) return control.status();
  setup.control = std::move(control.value());
  return Status::ok();
}

}  // namespace

int open_setup(uv_loop_t* loop, const Options& options, Setup& setup) {
  if (setup.adopted) {
    if (Status st = adopt_sockets(loop, options, setup); !st) {
      spdlog::error("taking over: {}", st.message());
      return exit_code::kSetup;
    }
  } else if (auto opened = open_listeners(options.listeners); opened) {
    setup.listeners = std::move(opened.value());
  } else {
    spdlog::error("{}", opened.status().message());
    return exit_code::kSetup;
  }
  if (!options.pid_file.empty()) {
    auto pf = PidFile::create(options.pid_file);
    if (!pf) {
      spdlog::error("{}", pf.status().message());
      return exit_code::kSetup;
    }
    setup.pid_file.emplace(std::move(pf.value()));
  }
  if (setup.adopted) return exit_code::kOk;
  if (Status st = open_operation(loop, options, setup); !st) {
    spdlog::error("{}", st.message());
    return exit_code::kSetup;
  }
  return exit_code::kOk;
}

}  // namespace baton
