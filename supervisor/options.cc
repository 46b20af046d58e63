#include "options.h"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>
#include <string_view>

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

// The shortest timeout that can work: a worker needs some time to start,
// finish its requests, or hand over.
constexpr std::chrono::milliseconds kMinTimeout{100};

// Adds a duration flag that is parsed with parse_duration(), so errors say
// how to write it; `min` refuses values that cannot work.
void add_duration(CLI::App* app, const std::string& name, std::chrono::milliseconds& out, const std::string& help,
                  std::chrono::milliseconds min = kMinTimeout) {
  app->add_option_function<std::string>(
         name,
         [&out, name, min](const std::string& text) {
           auto d = parse_duration(text);
           if (!d) throw CLI::ValidationError(name, d.status().message());
           if (*d < min)
             throw CLI::ValidationError(name, text + " is too short to work; use at least " + format_duration(min));
           out = *d;
         },
         help + " (default " + format_duration(out) + ")")
      ->type_name("DURATION");
}

// Everything after the first `--` is the worker's command. Returns baton's
// own arguments, in the reversed order CLI11's parse(vector) wants.
std::vector<std::string> split_worker_command(int argc, char** argv, std::vector<std::string>& command) {
  std::vector<std::string> own;
  int i = 1;
  for (; i < argc && std::string_view(argv[i]) != "--"; ++i) own.emplace_back(argv[i]);
  for (++i; i < argc; ++i) command.emplace_back(argv[i]);
  return {own.rbegin(), own.rend()};
}

}  // namespace

namespace {

// The words of `baton run` that are not Options fields as they stand.
struct RunWords {
  std::vector<std::string> listen;
  std::string mode = "drain";
  std::string format = "text";
};

std::string check_worker_count(std::string& text) {
  const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  if (!digits) return "\"" + text + "\" is not a number; give a worker count from 1 to 256";
  if (text.size() > 3 || std::stoul(text) < 1 || std::stoul(text) > 256) return text + " is not in range 1 to 256";
  return "";
}

void add_run_options(CLI::App* run, Options& o, RunWords& words) {
  run->add_option("-l,--listen", words.listen,
                  "socket to hold open and pass to workers, repeatable:\n"
                  "NAME=tcp://HOST:PORT, NAME=udp://HOST:PORT, NAME=unix:///PATH[?mode=0660];\n"
                  "under systemd socket activation, a NAME from LISTEN_FDNAMES uses that socket")
      ->type_name("NAME=URL");
  run->add_option("-w,--workers", o.workers, "worker processes per generation, 1 to 256 (default 1)")
      ->check(CLI::Validator(check_worker_count, "1..256"));
  add_duration(run, "--ready-timeout", o.ready_timeout, "how long a new worker has to say READY");
  add_duration(run, "--drain-timeout", o.drain_timeout,
               "how long an old worker has to finish its requests before SIGTERM");
  add_duration(run, "--kill-timeout", o.kill_timeout, "how long after SIGTERM before SIGKILL (0: at once)",
               std::chrono::milliseconds(0));
  run->add_option("--mode", words.mode,
                  "drain: new workers accept beside the old, which drain (default);\n"
                  "handoff: old workers pass their state and open connections to the new ones")
      ->check(CLI::IsMember({"drain", "handoff"}));
  add_duration(run, "--handoff-timeout", o.handoff_timeout,
               "handoff mode: how long from HANDOFF to every new worker RESTORED before rolling back");
  run->add_option("--pid-file", o.pid_file, "write baton's pid here (for kill -HUP $(cat FILE))")
      ->type_name("PATH");
  run->add_option("--log-level", o.log_level, "trace, debug, info, warn or error (default info)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  run->add_option("--log-format", words.format, "text or json (default text)")
      ->check(CLI::IsMember({"text", "json"}));
  // Shown in --help; the words after `--` are split off before parsing, so
  // that they always belong to the worker (its own --flags included).
  run->add_option("command", o.command, "the worker binary and its arguments, after --")
      ->type_name("-- WORKER [ARGS...]");
}

// Parses and checks every --listen: each name and each address once.
std::vector<ListenerSpec> listener_specs(const std::vector<std::string>& listen) {
  std::vector<ListenerSpec> out;
  for (const auto& text : listen) {
    auto spec = parse_listener_spec(text);
    if (!spec) throw CLI::ValidationError("--listen", spec.status().message());
    for (const auto& other : out) {
      if (other.name == spec->name)
        throw CLI::ValidationError("--listen", "two listeners are named \"" + spec->name +
                                                   "\"; give each its own NAME=URL");
      // Port 0 twice is two ephemeral ports, not one address.
      if (other.url() == spec->url() && !(spec->kind != ListenerKind::kUnix && spec->port == 0))
        throw CLI::ValidationError("--listen", "listeners \"" + other.name + "\" and \"" + spec->name +
                                                   "\" have the same address " + spec->url() +
                                                   "; give each its own address");
    }
    out.push_back(std::move(spec.value()));
  }
  return out;
}

void check_run(const Options& o, const RunWords& words) {
  if (o.command.empty())
    throw CLI::ValidationError("-- WORKER", "no worker command; end baton's options with -- WORKER [ARGS...]");
  if (words.listen.empty() && std::getenv("LISTEN_FDS") == nullptr)
    throw CLI::ValidationError("--listen", "no listeners; pass --listen NAME=URL (for example "
                                           "http=tcp://127.0.0.1:8080), or start baton under systemd socket activation");
}

}  // namespace

ParsedOptions parse_options(int argc, char** argv) {
  Options o;
  RunWords words;
  CLI::App app{"baton: keeps a network service's listening sockets open and replaces its\n"
               "worker binary with no refused connection and no failed request."};
  app.set_version_flag("--version", std::string("baton ") + BATON_VERSION);
  app.require_subcommand(1);
  app.footer(kFooter);
  CLI::App* run = app.add_subcommand("run", "supervise WORKER: bind the listeners, start it, upgrade it on SIGHUP");
  run->footer(kFooter);
  add_run_options(run, o, words);

  std::vector<std::string> args = split_worker_command(argc, argv, o.command);
  try {
    app.parse(std::move(args));
    if (run->parsed()) check_run(o, words);
    o.listeners = listener_specs(words.listen);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help/version to stdout, errors to stderr
    return {std::nullopt, rc == 0 ? exit_code::kOk : exit_code::kUsage};
  }
  o.log_format = words.format == "json" ? LogFormat::kJson : LogFormat::kText;
  o.mode = words.mode == "handoff" ? UpgradeMode::kHandoff : UpgradeMode::kDrain;
  return {std::move(o), exit_code::kOk};
}

}  // namespace baton
