#include "command_line.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string_view>

#include "config_file.h"
#include "control_path.h"
#include "byte_size.h"
#include "duration.h"
#include "signal_name.h"

namespace baton {
namespace {

constexpr const char* kFooter = R"(
Example:
  baton run --listen http=tcp://127.0.0.1:8080 --mode handoff -- ./build/bin/kvstore
  baton upgrade --wait           # or kill -HUP <baton's pid>; exit 0 once committed

Signals:
  SIGHUP           upgrade (--mode); SIGHUPs during an upgrade become one follow-up
  SIGTERM, SIGINT  graceful stop: drain every worker, then exit 0
  SIGQUIT          fast stop: SIGTERM every worker now

Exit codes:
  0    stopped cleanly            3    could not bind a listener / write the pid file
  1    internal error             4    baton ended generation 1 before it was ready
  2    bad command line           126  worker not executable    127  worker not found
  a generation-1 worker that exits before it is ready: its own status, or 128+signal
)";

// The shortest timeout that can work: a worker needs some time to start,
// finish its requests, or hand over.
constexpr std::chrono::milliseconds kMinTimeout{100};

// Adds a duration flag that is parsed with parse_duration(), so errors say
// how to write it; `min` refuses values that cannot work.
// --hang-timeout's shortest: heartbeats every 250 ms.
constexpr std::chrono::milliseconds kMinHangTimeout{1'000};

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

constexpr const char* kTopFooter = R"(
Run a service:
  baton run --listen http=tcp://127.0.0.1:8080 --mode handoff -- ./build/bin/kvstore
  baton run --config /etc/baton/kvstore.toml
Operate it (from another shell, as the same user or root):
  baton status                 generations, workers, the last upgrade
  baton upgrade --wait         upgrade; exit 0 only if the upgrade committed
  baton upgrade --self         upgrade baton itself in place: same pid, same workers
  baton stop --wait            drain every worker, return when baton has exited
Each subcommand has its own --help.
)";

constexpr const char* kClientFooter = R"(
The socket: --control PATH, or --name NAME in the default directory
(/run/baton as root, else $XDG_RUNTIME_DIR/baton, else /tmp/baton-UID); with
neither, the one baton socket there.

Exit codes:
  0    done (upgrade --wait: that upgrade committed; upgrade --self: the
       new baton answers)
  1    the upgrade failed and was rolled back, or baton refused the request
       (upgrade --self: not now, or the new binary cannot take over);
       status --ready: not ready
  2    bad command line
  3    no baton answers on the control socket
  4    --timeout passed first (the upgrade or stop goes on)
  5    upgrade --wait: refused before anything started, as the new workers
       would not fit in baton's cgroup memory limit (the figures follow)
)";

// The words of `baton run` that are not Options fields as they stand.
struct RunWords {
  std::vector<std::string> listen;
  std::string mode = "drain";
  std::string format = "text";
  std::string metrics;
  std::vector<std::string> forward;
};

std::string check_worker_count(std::string& text) {
  const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  if (!digits) return "\"" + text + "\" is not a number; give a worker count from 1 to 256";
  if (text.size() > 3 || std::stoul(text) < 1 || std::stoul(text) > 256) return text + " is not in range 1 to 256";
  return "";
}

void add_process_options(CLI::App* run, Options& o, RunWords& words) {
  run->add_option("-w,--workers", o.workers, "worker processes per generation, 1 to 256 (default 1)")
      ->check(CLI::Validator(check_worker_count, "1..256"));
  run->add_option("--max-generations", o.max_generations,
                  "at most N generations alive at once, the new one included (2 to 64, default 3);\n"
                  "an upgrade past it waits until a draining generation has finished")
      ->check(CLI::Range(2u, 64u))
      ->type_name("N");
  run->add_option("--start-nice", o.start_nice,
                  "a starting worker's CPU nice value until it says READY or STANDBY, for 1s at most, so\n"
                  "that its start-up cannot take the CPU from the workers serving (0 to 19, default 19;\n"
                  "0: none). Needs CAP_SYS_NICE to raise it back; without it workers start at normal priority")
      ->check(CLI::Range(0, 19))
      ->type_name("N");
  add_duration(run, "--ready-timeout", o.ready_timeout, "how long a new worker has to say READY");
  add_duration(run, "--drain-timeout", o.drain_timeout,
               "how long an old worker has to finish its requests before SIGTERM");
  add_duration(run, "--kill-timeout", o.kill_timeout, "how long after SIGTERM before SIGKILL (0: at once)",
               std::chrono::milliseconds(0));
  add_duration(run, "--stop-delay", o.stop_delay,
               "on a graceful stop: answer /readyz 503 at once, keep serving this long, then drain\n"
               "(time for load balancers to look elsewhere)",
               std::chrono::milliseconds(0));
  add_duration(run, "--probation", o.probation,
               "after an upgrade: if the new generation crashes within this time of taking over,\n"
               "roll back to the previous one on its own (0: off)",
               std::chrono::milliseconds(0));
  run->add_option("--probation-check", o.probation_check,
                  "during --probation, GET this every second: a path on the first tcp:// listener (/healthz)\n"
                  "or http://HOST:PORT/PATH; 3 answers in a row that are not 2xx roll back as a crash does")
      ->type_name("URL")
      ->check([](const std::string& v) {
        return v.rfind("http://", 0) == 0 || (!v.empty() && v[0] == '/')
                   ? std::string()
                   : "give a path (/healthz) or http://HOST:PORT/PATH";
      });
  run->add_option("--mode", words.mode,
                  "drain: new workers accept beside the old, which drain (default);\n"
                  "handoff: old workers pass their state and open connections to the new ones")
      ->check(CLI::IsMember({"drain", "handoff"}));
  add_duration(run, "--handoff-timeout", o.handoff_timeout,
               "handoff mode: how long from HANDOFF to every new worker RESTORED before rolling back");
  run->add_option("--udp-steering", o.udp_steering,
                  "on: workers that steer UDP flows (libbaton's on_flows) forward each datagram to the\n"
                  "worker that owns its flow, across generations (default); off: whoever reads it serves it")
      ->type_name("on|off");
}

void add_hang_options(CLI::App* run, Options& o) {
  run->add_option_function<std::string>(
         "--hang-timeout",
         [&o](const std::string& text) {
           auto d = parse_duration(text);
           if (!d) throw CLI::ValidationError("--hang-timeout", d.status().message());
           // A heartbeat goes every quarter of it: shorter than that, a busy machine's scheduling is a hang.
           if (d->count() != 0 && *d < kMinHangTimeout)
             throw CLI::ValidationError("--hang-timeout", text + " is too short to tell a hang from a busy CPU; use " +
                                                              "0 (off) or at least " + format_duration(kMinHangTimeout));
           o.hang_timeout = *d;
         },
         "a serving worker whose event loop has not answered baton's heartbeat (sent every\n"
         "quarter of it) for this long is hung: its stacks are kept, then it is ended and replaced\n"
         "(default 0: off). Workers built on libbaton answer; others are never asked (PROTOCOL.md,\n"
         "\"Heartbeat\")")
      ->type_name("DURATION");
  run->add_option("--hang-stacks", o.hang_stacks,
                  "where a hung worker's threads' stacks are written (eu-stack or gdb) before it is ended\n"
                  "(default /tmp)")
      ->type_name("DIR");
  run->add_option_function<std::string>(
         "--hang-signal",
         [&o](const std::string& text) {
           auto s = parse_signal(text);
           if (!s) throw CLI::ValidationError("--hang-signal", "\"" + text + "\" is not a signal; write ABRT, SIGABRT or 6");
           o.hang_signal = *s;
         },
         "what ends a hung worker once its stacks are kept, SIGKILL following after --kill-timeout\n"
         "(default TERM; ABRT writes a core dump too, where core dumps are on)")
      ->type_name("SIGNAL");
}

void add_recycle_options(CLI::App* run, Options& o) {
  add_duration(run, "--recycle-after", o.recycle_after,
               "replace each serving worker once it is this old by a fresh process of the same file,\n"
               "one at a time and never during an upgrade; its state and connections move in handoff\n"
               "mode, it drains in drain mode (0: off)",
               std::chrono::milliseconds(0));
  add_duration(run, "--recycle-jitter", o.recycle_jitter,
               "with --recycle-after: add a random share of this to each worker's age limit, so that\n"
               "workers started together are not recycled together",
               std::chrono::milliseconds(0));
  run->add_option_function<std::string>(
         "--recycle-memory",
         [&o](const std::string& text) {
           auto size = parse_byte_size(text);
           if (!size) throw CLI::ValidationError("--recycle-memory", size.status().message());
           o.recycle_memory = *size;
         },
         "replace a serving worker whose private memory (smaps_rollup) passes SIZE, as\n"
         "--recycle-after does, e.g. 512M (default 0: off)")
      ->type_name("SIZE");
  run->add_option_function<std::string>(
         "--rolling",
         [&o](const std::string& text) {
           if (text == "auto") return void(o.rolling = kRollingAuto);
           char* end = nullptr;
           const unsigned long n = std::strtoul(text.c_str(), &end, 10);
           if (text.empty() || *end != '\0' || text[0] == '-' || n > 256)
             throw CLI::ValidationError("--rolling", "\"" + text + "\" is not a batch size; write 0 to 256, or auto");
           o.rolling = static_cast<unsigned>(n);
         },
         "an upgrade replaces at most N workers at a time, batch after batch, so that capacity\n"
         "never drops below workers - N and memory never doubles; a batch that fails rolls the\n"
         "whole upgrade back. auto: the largest batch that fits under the memory limit\n"
         "(--memory-headroom). Default 0: the whole generation at once")
      ->type_name("N|auto");
  run->add_option("--memory-headroom", o.memory_headroom,
                  "start new workers (an upgrade's, a handoff recycle's) only if, by the private memory of\n"
                  "those they replace, they fit under baton's cgroup memory limit with this share of it\n"
                  "kept free; else the upgrade is refused with the figures, or with --rolling auto made\n"
                  "in batches that fit (0 to 90, default 10)")
      ->check(CLI::Range(0u, 90u))
      ->type_name("PERCENT");
}

void add_operation_options(CLI::App* run, Options& o, RunWords& words) {
  run->add_option("--name", o.name, "this service's name: names the control socket (default: the worker's file name)")
      ->type_name("NAME");
  run->add_option("--control", o.control, "the control socket's path (default: see `baton status --help`)")
      ->type_name("PATH");
  run->add_option("--metrics", words.metrics, "serve Prometheus metrics at URL/metrics, e.g. tcp://127.0.0.1:9100")
      ->type_name("URL");
  run->add_flag("--watch", o.watch,
                "upgrade when the worker's executable is replaced (a rebuild, a deploy by rename),\n"
                "once the new file is whole and has not changed for --watch-settle");
  add_duration(run, "--watch-settle", o.watch_settle, "with --watch: how long a new file must stay unchanged",
               std::chrono::milliseconds(10));
  run->add_option("--user", o.user, "start workers as this user (baton binds as root first)")->type_name("NAME");
  run->add_option("--group", o.group, "with --user: this group instead of the user's own")->type_name("NAME");
  run->add_option("--forward-signal", words.forward,
                  "also pass this signal on to the serving workers, repeatable\n"
                  "(USR1, USR2 and WINCH always are), e.g. --forward-signal SIGALRM;\n"
                  "--forward-signal none clears the config file's list")
      ->type_name("SIGNAL");
  run->add_option("--pid-file", o.pid_file, "write baton's pid here (for kill -HUP $(cat FILE))")
      ->type_name("PATH");
  run->add_option("--log-level", o.log_level, "trace, debug, info, warn or error (default info)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  run->add_option("--log-format", words.format, "text or json (default text)")
      ->check(CLI::IsMember({"text", "json"}));
}

void add_run_options(CLI::App* run, Options& o, RunWords& words) {
  run->add_option("-l,--listen", words.listen,
                  "socket to hold open and pass to workers, repeatable:\n"
                  "NAME=tcp://HOST:PORT, NAME=udp://HOST:PORT, NAME=unix:///PATH[?mode=0660];\n"
                  "under systemd socket activation, a NAME from LISTEN_FDNAMES uses that socket")
      ->type_name("NAME=URL");
  add_process_options(run, o, words);
  add_hang_options(run, o);
  add_recycle_options(run, o);
  add_operation_options(run, o, words);
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

std::optional<ListenerSpec> metrics_spec(const std::string& text) {
  if (text.empty()) return std::nullopt;
  auto spec = parse_listener_spec("metrics=" + text);
  if (!spec || spec->kind != ListenerKind::kTcp)
    throw CLI::ValidationError("--metrics", "\"" + text + "\" is not a TCP address; write tcp://127.0.0.1:9100");
  return spec.value();
}

// A mistake in the config file: reported as "FILE:LINE: ..." alone, since
// --help would not help.
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// "ready_timeout" <-> "--ready-timeout"
std::string flag_of_key(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return "--" + key;
}

// Sets one key of the config file, as if its flag were given: the same
// checks, and errors that say where in the file.
void apply_setting(const ConfigSetting& setting, Options& o, RunWords& words) {
  const std::string flag = flag_of_key(setting.key);
  CLI::App file_app;
  add_run_options(&file_app, o, words);
  std::vector<std::string> args;
  // --flag=VALUE: a flag without a value (--watch) takes true/false that way.
  for (const auto& v : setting.values) args.push_back(flag + "=" + v);
  try {
    file_app.parse(std::vector<std::string>(args.rbegin(), args.rend()));
  } catch (const CLI::ParseError& e) {
    std::string why = e.what();
    if (why.rfind(flag + ": ", 0) == 0) why.erase(0, flag.size() + 2);
    throw ConfigError(setting.where + ": key \"" + setting.key + "\": " + why);
  }
}

// Applies the file's keys that the command line did not set. `text` is the
// file's, once read (upgrade --self passes on what the first baton read).
void apply_config(const std::string& path, std::optional<std::string>& text, CLI::App* run, Options& o,
                  RunWords& words) {
  if (!text) {
    auto read = read_config_text(path);
    if (!read) throw ConfigError(read.status().message());
    text = std::move(read.value());
  }
  auto settings = parse_config(*text, path);
  if (!settings) throw ConfigError(settings.status().message());
  const auto keys = config_keys();
  for (const auto& s : *settings) {
    if (std::find(keys.begin(), keys.end(), s.key) == keys.end()) {
      std::string known;
      for (const auto& k : keys) known += (known.empty() ? "" : ", ") + k;
      throw ConfigError(s.where + ": unknown key \"" + s.key + "\"; the keys are: " + known);
    }
    if (s.key == "command") {
      if (o.command.empty()) o.command = s.values;
      continue;
    }
    if (run->count(flag_of_key(s.key)) == 0) apply_setting(s, o, words);
  }
}

void check_run(const Options& o, const RunWords& words) {
  if (o.command.empty())
    throw CLI::ValidationError("-- WORKER", "no worker command; end baton's options with -- WORKER [ARGS...], "
                                            "or set command = [\"WORKER\", ...] in the config file");
  if (words.listen.empty() && std::getenv("LISTEN_FDS") == nullptr)
    throw CLI::ValidationError("--listen", "no listeners; pass --listen NAME=URL (for example "
                                           "http=tcp://127.0.0.1:8080), or start baton under systemd socket activation");
}

std::vector<int> forward_signals(const std::vector<std::string>& names) {
  std::vector<int> out = default_forward_signals();
  for (const auto& name : names) {
    auto s = parse_signal(name);
    if (!s) throw CLI::ValidationError("--forward-signal", "\"" + name + "\" is not a signal; write USR1, SIGUSR1 or 10");
    if (const std::string why = why_not_forwardable(*s); !why.empty())
      throw CLI::ValidationError("--forward-signal", name + " cannot be forwarded: " + why);
    if (std::find(out.begin(), out.end(), *s) == out.end()) out.push_back(*s);
  }
  return out;
}

// An explicit empty value (--forward-signal "" or none) names no entry:
// given on the command line, it clears the config file's list for that key.
std::vector<std::string> without_empty(std::vector<std::string> list) {
  std::erase_if(list, [](const std::string& v) { return v.empty() || v == "none"; });
  return list;
}

// The words become Options.
void finish_run(Options& o, RunWords words) {
  words.listen = without_empty(std::move(words.listen));
  words.forward = without_empty(std::move(words.forward));
  check_run(o, words);
  o.listeners = listener_specs(words.listen);
  o.metrics = metrics_spec(words.metrics);
  o.forward_signals = forward_signals(words.forward);
  o.log_format = words.format == "json" ? LogFormat::kJson : LogFormat::kText;
  o.mode = words.mode == "handoff" ? UpgradeMode::kHandoff : UpgradeMode::kDrain;
  if (o.name.empty()) o.name = name_from_command(o.command[0]);
  if (Status st = check_service_name(o.name); !st) throw CLI::ValidationError("--name", st.message());
  if (!o.group.empty() && o.user.empty())
    throw CLI::ValidationError("--group", "--group goes with --user: give the user the workers run as");
}

}  // namespace


std::vector<std::string> config_keys() {
  Options o;
  RunWords words;
  CLI::App app;
  add_run_options(&app, o, words);
  std::vector<std::string> keys;
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_name() == "command") keys.push_back("command");
    for (std::string name : opt->get_lnames()) {
      if (name == "help") continue;
      std::replace(name.begin(), name.end(), '-', '_');
      keys.push_back(name);
    }
  }
  return keys;
}

namespace {

void add_client_target(CLI::App* sub, ClientOptions& c) {
  sub->add_option("--name", c.name, "the baton of this name (its --name, default its worker's file name)")
      ->type_name("NAME");
  sub->add_option("--control", c.control, "the control socket at PATH")->type_name("PATH");
  sub->footer(kClientFooter);
}

void add_wait_timeout(CLI::App* sub, ClientOptions& c) {
  sub->add_option_function<std::string>(
         "--timeout",
         [&c](const std::string& text) {
           auto d = parse_duration(text);
           if (!d) throw CLI::ValidationError("--timeout", d.status().message());
           c.timeout = *d;
         },
         "with --wait: give up waiting after DURATION (default: as long as it takes;\n"
         "upgrade --self waits 30s for the new baton unless told)")
      ->type_name("DURATION");
}

struct Subcommands {
  CLI::App* run;
  CLI::App* status;
  CLI::App* upgrade;
  CLI::App* stop;
  CLI::App* check_config;
};

Subcommands add_subcommands(CLI::App& app, ParsedCommand& p, RunWords& words) {
  Subcommands s{};
  s.run = app.add_subcommand("run", "supervise WORKER: bind the listeners, start it, upgrade it on SIGHUP");
  s.run->footer(kFooter);
  add_run_options(s.run, p.options, words);
  s.run->add_option("-c,--config", p.config_file, "read settings from this TOML file; flags win over it")
      ->type_name("FILE");
  s.status = app.add_subcommand("status", "show what a running baton serves: generations, workers, last upgrade");
  s.status->add_flag("--json", p.client.json, "print JSON (fields in docs/operating.md) instead of a table");
  s.status->add_flag("--ready", p.client.ready,
                     "exit 0 if a generation serves and baton is not stopping, else 1 (as /readyz;\n"
                     "for a container HEALTHCHECK)")
      ->excludes("--json");
  add_client_target(s.status, p.client);
  s.upgrade = app.add_subcommand("upgrade", "upgrade a running baton, like kill -HUP");
  s.upgrade->add_flag("--wait", p.client.wait, "wait for the upgrade to end; exit 0 only if it committed");
  s.upgrade->add_flag("--self", p.client.self,
                      "upgrade baton itself: re-execute its binary in place (same pid, same workers);\n"
                      "exit 0 once the new baton answers");
  add_wait_timeout(s.upgrade, p.client);
  add_client_target(s.upgrade, p.client);
  s.stop = app.add_subcommand("stop", "stop a running baton: drain its workers (SIGTERM), or --fast (SIGQUIT)");
  s.stop->add_flag("--fast", p.client.fast, "SIGTERM every worker now instead of draining");
  s.stop->add_flag("--wait", p.client.wait, "return once baton has exited");
  add_wait_timeout(s.stop, p.client);
  add_client_target(s.stop, p.client);
  s.check_config = app.add_subcommand("check-config", "check a config file as `baton run --config FILE` would; "
                                                      "starts nothing (exit 0: good, 2: not)");
  s.check_config->add_option("file", p.config_file, "the TOML file")->required()->type_name("FILE");
  return s;
}

// check-config: the file must hold a whole `baton run` by itself.
void check_config_file(ParsedCommand& p, CLI::App* run, RunWords& words) {
  apply_config(p.config_file, p.config_text, run, p.options, words);
  try {
    finish_run(p.options, words);
  } catch (const CLI::ParseError& e) {
    throw ConfigError(p.config_file + ": " + e.what());
  }
}

std::optional<Command> chosen(const Subcommands& s) {
  if (s.run->parsed()) return Command::kRun;
  if (s.status->parsed()) return Command::kStatus;
  if (s.upgrade->parsed()) return Command::kUpgrade;
  if (s.stop->parsed()) return Command::kStop;
  if (s.check_config->parsed()) return Command::kCheckConfig;
  return std::nullopt;
}

}  // namespace

ParsedCommand parse_command_line(int argc, char** argv, std::optional<std::string> config_text) {
  ParsedCommand p;
  p.config_text = std::move(config_text);
  RunWords words;
  CLI::App app{"baton: keeps a network service's listening sockets open and replaces its\n"
               "worker binary with no refused connection and no failed request."};
  app.name("baton");
  app.set_version_flag("--version", std::string("baton ") + BATON_VERSION);
  app.require_subcommand(1);
  app.footer(kTopFooter);
  const Subcommands subs = add_subcommands(app, p, words);
  std::vector<std::string> args = split_worker_command(argc, argv, p.options.command);
  try {
    app.parse(std::move(args));
    p.command = chosen(subs);
    if (p.command == Command::kRun) {
      if (!p.config_file.empty()) apply_config(p.config_file, p.config_text, subs.run, p.options, words);
      finish_run(p.options, words);
    }
    if (p.command == Command::kCheckConfig) check_config_file(p, subs.run, words);
  } catch (const ConfigError& e) {
    std::cerr << "baton: " << e.what() << "\n";
    return {.exit_code = exit_code::kUsage};
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help/version to stdout, errors to stderr
    return {.exit_code = rc == 0 ? exit_code::kOk : exit_code::kUsage};
  }
  return p;
}

}  // namespace baton
