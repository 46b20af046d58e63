#include "options.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <set>

#include "duration.h"

namespace baton {
namespace {

constexpr const char* kFooter = R"(
Example:
  baton run --listen http=tcp://127.0.0.1:8080 --pid-file baton.pid -- ./build/bin/kvstore
  kill -HUP $(cat baton.pid)     # upgrade: start a new generation, drain the old one

Signals:
  SIGHUP           upgrade (--mode); SIGHUPs during an upgrade become one follow-up
  SIGTERM, SIGINT  graceful stop: drain every worker, then exit 0
  SIGQUIT          fast stop: SIGTERM every worker now

Exit codes:
  0    stopped cleanly            3    could not bind a listener / write the pid file
  1    internal error             4    the first worker generation never became ready
  2    bad command line           126  worker not executable    127  worker not found
)";

// Adds a duration flag that is parsed with parse_duration(), so errors say how to write it.
void add_duration(CLI::App* app, const std::string& name, std::chrono::milliseconds& out,
                  const std::string& help) {
  app->add_option_function<std::string>(
         name,
         [&out, name](const std::string& text) {
           auto d = parse_duration(text);
           if (!d) throw CLI::ValidationError(name, d.status().message());
           out = *d;
         },
         help + " (default " + format_duration(out) + ")")
      ->type_name("DURATION");
}

}  // namespace

ParsedOptions parse_options(int argc, char** argv) {
  Options o;
  CLI::App app{"baton: keeps a network service's listening sockets open and replaces its\n"
               "worker binary with no refused connection and no failed request."};
  app.set_version_flag("--version", std::string("baton ") + BATON_VERSION);
  app.require_subcommand(1);
  app.footer(kFooter);

  CLI::App* run = app.add_subcommand("run", "supervise WORKER: bind the listeners, start it, upgrade it on SIGHUP");
  run->footer(kFooter);
  std::vector<std::string> listen;
  run->add_option("-l,--listen", listen,
                  "socket to hold open and pass to workers, repeatable:\n"
                  "NAME=tcp://HOST:PORT, NAME=udp://HOST:PORT, NAME=unix:///PATH[?mode=0660];\n"
                  "under systemd socket activation, a NAME from LISTEN_FDNAMES uses that socket")
      ->type_name("NAME=URL");
  run->add_option("-w,--workers", o.workers, "worker processes per generation (default 1)")
      ->check(CLI::Range(1u, 256u));
  add_duration(run, "--ready-timeout", o.ready_timeout, "how long a new worker has to say READY");
  add_duration(run, "--drain-timeout", o.drain_timeout,
               "how long an old worker has to finish its requests before SIGTERM");
  add_duration(run, "--kill-timeout", o.kill_timeout, "how long after SIGTERM before SIGKILL");
  std::string mode = "drain";
  run->add_option("--mode", mode,
                  "drain: new workers accept beside the old, which drain (default);\n"
                  "handoff: old workers pass their state and open connections to the new ones")
      ->check(CLI::IsMember({"drain", "handoff"}));
  add_duration(run, "--handoff-timeout", o.handoff_timeout,
               "handoff mode: how long from HANDOFF to every new worker RESTORED before rolling back");
  run->add_option("--pid-file", o.pid_file, "write baton's pid here (for kill -HUP $(cat FILE))")
      ->type_name("PATH");
  run->add_option("--log-level", o.log_level, "trace, debug, info, warn or error (default info)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  std::string format = "text";
  run->add_option("--log-format", format, "text or json (default text)")
      ->check(CLI::IsMember({"text", "json"}));
  run->add_option("command", o.command, "the worker binary and its arguments, after --")
      ->type_name("-- WORKER [ARGS...]")
      ->required();

  try {
    app.parse(argc, argv);
    std::set<std::string> names;
    for (const auto& text : listen) {
      auto spec = parse_listener_spec(text);
      if (!spec) throw CLI::ValidationError("--listen", spec.status().message());
      if (!names.insert(spec->name).second)
        throw CLI::ValidationError("--listen", "two listeners are named \"" + spec->name +
                                                   "\"; give each its own NAME=URL");
      o.listeners.push_back(std::move(spec.value()));
    }
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help/version to stdout, errors to stderr
    return {std::nullopt, rc == 0 ? exit_code::kOk : exit_code::kUsage};
  }
  o.log_format = format == "json" ? LogFormat::kJson : LogFormat::kText;
  o.mode = mode == "handoff" ? UpgradeMode::kHandoff : UpgradeMode::kDrain;
  return {std::move(o), exit_code::kOk};
}

}  // namespace baton
