#include "baton/worker.h"
#include "worker_impl.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>

namespace baton {
namespace {

Result<int> parse_fd_env(const char* text) {
  int fd = -1;
  std::string_view s(text);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), fd);
  if (ec != std::errc() || end != s.data() + s.size() || fd < 0)
    return Status::error(std::string("BATON_CHANNEL_FD=\"") + text + "\" is not an fd number");
  if (::fcntl(fd, F_GETFD) < 0)
    return Status::from_errno(errno, "BATON_CHANNEL_FD=" + std::string(text))
        .with_hint("start this worker through `baton run`, or unset BATON_CHANNEL_FD to run it standalone");
  return fd;
}

// The supervisor sends SIGTERM when deadline_ms runs out: leave a margin.
std::chrono::milliseconds before_sigterm(std::chrono::milliseconds deadline) {
  return deadline - std::min(deadline / 10, std::chrono::milliseconds(1000));
}

}  // namespace

// ---- the public API, forwarded -------------------------------------------

Worker::Worker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Worker::~Worker() = default;

bool Worker::supervised() const { return impl_->channel_.valid(); }
std::uint64_t Worker::generation() const { return impl_->generation_; }
std::uint32_t Worker::index() const { return impl_->index_; }
std::vector<WorkerListener>& Worker::listeners() { return impl_->listeners_; }
Result<UniqueFd> Worker::take_listener(std::string_view name) { return impl_->take_listener(name); }
void Worker::on_drain(std::function<void(const DrainRequest&)> callback) { impl_->on_drain_ = std::move(callback); }
Status Worker::ready() { return impl_->ready(); }
void Worker::on_handoff(HandoffSource source) { impl_->source_ = std::move(source); }
void Worker::on_restore(HandoffTarget target) { impl_->target_ = std::move(target); }
void Worker::on_inherit(std::function<void(std::vector<InheritedConnection>)> callback) {
  impl_->on_inherit_ = std::move(callback);
}
void Worker::on_flows(FlowSteering steering) { impl_->on_flows(std::move(steering)); }
std::uint32_t Worker::flow_tag() const { return impl_->flows_ ? impl_->flows_->tag() : 0; }
bool Worker::steer(std::string_view listener, const sockaddr* from, std::span<const std::uint8_t> datagram) {
  return impl_->steer(listener, from, datagram);
}
FlowStats Worker::flow_stats() const { return impl_->flows_ ? impl_->flows_->stats() : FlowStats{}; }
bool Worker::awaiting_handoff() const { return impl_->awaiting_handoff(); }
Status Worker::report_error(const std::string& message) { return impl_->report_error(message); }
Status Worker::report_unhealthy(const std::string& reason) { return impl_->report_unhealthy(reason); }
void Worker::report_connections(std::size_t count) { impl_->report_connections(count); }
void Worker::finish() { impl_->finish(); }

Result<std::unique_ptr<Worker>> Worker::create(uv_loop_t* loop, Options options) {
  auto impl = std::make_unique<Impl>(loop, std::move(options));
  const char* channel = std::getenv("BATON_CHANNEL_FD");
  if (channel == nullptr) {
    if (Status st = impl->bind_standalone(); !st) return st;
    return std::unique_ptr<Worker>(new Worker(std::move(impl)));
  }
  const char* protocol = std::getenv("BATON_PROTOCOL");
  if (protocol == nullptr || std::string_view(protocol) != std::to_string(kProtocolVersion))
    return Status::error(std::string("BATON_PROTOCOL=") + (protocol ? protocol : "(unset)") +
                         " but this libbaton speaks protocol " + std::to_string(kProtocolVersion))
        .with_hint("rebuild the worker against the libbaton that matches your baton");
  auto fd = parse_fd_env(channel);
  if (!fd) return fd.status();
  // Our own children must not inherit the channel, nor think they are supervised.
  ::fcntl(*fd, F_SETFD, FD_CLOEXEC);
  for (const char* name : {"BATON_CHANNEL_FD", "BATON_PROTOCOL", "BATON_GENERATION", "BATON_WORKER_INDEX"})
    ::unsetenv(name);
  if (Status st = impl->handshake(UniqueFd(*fd)); !st) return st.with_context("handshake with baton");
  impl->reserve_ = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (Status st = impl->watch_channel(); !st) return st.with_context("watching the channel");
  return std::unique_ptr<Worker>(new Worker(std::move(impl)));
}

// ---- Impl -------------------------------------------------------------------

Status Worker::Impl::bind_standalone() {
  for (const auto& text : options_.standalone_listen) {
    auto spec = parse_listener_spec(text);
    if (!spec) return spec.status();
    auto bound = bind_listener(*spec, SOMAXCONN);
    if (!bound) return bound.status();
    listeners_.push_back({bound->spec(), bound->take_fd()});
    standalone_.push_back(std::move(bound.value()));
  }
  return Status::ok();
}

Status Worker::Impl::handshake(UniqueFd channel_fd) {
  channel_ = Channel(std::move(channel_fd));
  Hello hello;
  hello.pid = static_cast<std::uint32_t>(::getpid());
  hello.worker_name = options_.name;
  if (Status st = channel_.send(hello); !st) return st;
  auto r = channel_.receive_wait(options_.handshake_timeout);
  if (!r) return r.status();
  if (r->outcome == Channel::Outcome::kClosed) return Status::error("baton closed the channel before WELCOME");
  auto welcome = r->message.as<Welcome>();
  if (!welcome) return welcome.status();
  if (r->message.fds_lost)
    return Status::error("the listening sockets in WELCOME could not be received: this worker is at its "
                         "open-files limit")
        .with_hint("raise the worker's limit (ulimit -n, LimitNOFILE=)");
  if (welcome->listeners.size() != r->message.fds.size())
    return Status::error("WELCOME lists " + std::to_string(welcome->listeners.size()) + " listeners but carried " +
                         std::to_string(r->message.fds.size()) + " fds");
  generation_ = welcome->generation;
  index_ = welcome->worker_index;
  standby_ = (welcome->flags & kWelcomeStandby) != 0;
  features_ = (welcome->flags & kWelcomeFeatures) != 0;
  takes_clients_ = (welcome->flags & kWelcomeTakesClients) != 0;
  steers_offered_ = (welcome->flags & kWelcomeSteers) != 0;
  for (std::size_t i = 0; i < welcome->listeners.size(); ++i) {
    const auto& info = welcome->listeners[i];
    auto spec = parse_listener_spec(info.name + "=" + info.url);
    if (!spec) return spec.status().with_context("WELCOME");
    listeners_.push_back({std::move(spec.value()), std::move(r->message.fds[i])});
  }
  return Status::ok();
}

Result<UniqueFd> Worker::Impl::take_listener(std::string_view name) {
  for (auto& l : listeners_) {
    if (l.spec.name != name) continue;
    if (!l.fd) return Status::error("listener \"" + std::string(name) + "\" was already taken");
    return std::move(l.fd);
  }
  std::string known;
  for (const auto& l : listeners_) known += (known.empty() ? "" : ", ") + l.spec.name;
  return Status::error("no listener named \"" + std::string(name) + "\" (have: " + (known.empty() ? "none" : known) + ")")
      .with_hint("pass --listen " + std::string(name) + "=tcp://HOST:PORT to baton");
}

Status Worker::Impl::ready() {
  if (ready_sent_ || !channel_.valid()) return Status::ok();
  ready_sent_ = true;
  // The optional parts it speaks, to a baton that takes FEATURES (an older one would not).
  std::uint32_t flags = 0;
  if (source_.start_snapshot) flags |= kFeatureSendsPrecopy;
  // libbaton takes connections lent ahead for any receiver (it holds the fds
  // when the application does not prepare them).
  if (target_.load_snapshot && target_.load_changes) flags |= kFeatureLoadsPrecopy | kFeatureTakesConnectionsAhead;
  // PING is answered from read_channel(), on the application's loop: a blocked loop misses it.
  flags |= kFeatureAnswersPing;
  if (on_inherit_) flags |= kFeatureServesInherited;
  const bool steers = steers_offered_ && flows_ && flows_->wanted();
  if (steers) flags |= kFeatureSteersFlows;
  if (features_ && flags != 0)
    if (Status st = channel_.send(Features{flags}); !st) return st;
  if (steers)
    if (Status st = await_steering(); !st) return st.with_context("UDP flow steering");
  // Without a target this worker cannot receive state: READY lets baton say so.
  if (awaiting_handoff()) return channel_.send(Standby{target_.state_versions});
  return channel_.send(Ready{});
}

void Worker::Impl::on_flows(FlowSteering steering) {
  if (!flows_) flows_ = std::make_unique<FlowRouter>(loop_, listeners_, generation_);
  flows_->configure(std::move(steering));
}

bool Worker::Impl::steer(std::string_view listener, const sockaddr* from, std::span<const std::uint8_t> datagram) {
  return flows_ && flows_->steer(listener, from, datagram, told_to_go_);
}

// baton answers FEATURES with the first STEER before anything else; a worker
// that takes a handoff reads its inbox only from COMMIT (its predecessor's until then).
Status Worker::Impl::await_steering() {
  auto r = channel_.receive_wait(options_.handshake_timeout);
  if (!r) return r.status();
  if (r->outcome == Channel::Outcome::kClosed) return Status::error("baton closed the channel before STEER");
  if (r->message.type != MessageType::kSteer)
    return Status::error("expected STEER after FEATURES, got " + message_type_name(static_cast<std::uint16_t>(r->message.type)));
  if (Status st = flows_->apply(r->message); !st) return st;
  if (!awaiting_handoff()) flows_->start_reading();
  return Status::ok();
}

Status Worker::Impl::report_unhealthy(const std::string& reason) {
  // An older baton (no FEATURES flag in WELCOME) would not know the type.
  if (!channel_.valid() || !features_) return Status::ok();
  return channel_.send(Unhealthy{reason.substr(0, kMaxStringBytes)});
}

// Only a worker told to go reports: that is when `baton status` asks what
// holds it, and a serving worker's every accept would be a message.
void Worker::Impl::report_connections(std::size_t count) {
  clients_ = static_cast<std::uint32_t>(std::min<std::size_t>(count, UINT32_MAX));
  if (!told_to_go_ || !takes_clients_ || !channel_.valid() || clients_ == clients_sent_) return;
  if (channel_.send(Clients{*clients_})) clients_sent_ = clients_;
}

void Worker::Impl::going() {
  told_to_go_ = true;
  if (clients_) report_connections(*clients_);
}

Status Worker::Impl::report_error(const std::string& message) {
  if (!channel_.valid()) return Status::ok();
  return channel_.send(Error{message.substr(0, kMaxStringBytes)});
}

Status Worker::Impl::watch_channel() {
  if (Status st = poll_.init(loop_, uv_poll_init, this, channel_.fd()); !st) return st;
  uv_poll_start(poll_.get(), UV_READABLE | UV_DISCONNECT, [](uv_poll_t* p, int, int) {
    if (auto* self = static_cast<Impl*>(p->data)) self->read_channel();
  });
  return Status::ok();
}

// The classic EMFILE trick: one fd held in reserve and let go just around
// each receive, so a worker at its open-files limit can still take the
// handoff link (and otherwise learns that it could not, instead of losing it).
Result<Channel::Received> Worker::Impl::receive_with_reserve() {
  reserve_.reset();
  auto r = channel_.receive();
  reserve_ = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  return r;
}

void Worker::Impl::read_channel() {
  for (;;) {
    auto r = receive_with_reserve();
    // A supervisor we cannot understand is as good as none: finish and exit.
    if (!r || r->outcome == Channel::Outcome::kClosed)
      return deliver_drain({DrainRequest::Reason::kSupervisorGone, options_.orphan_deadline});
    if (r->outcome == Channel::Outcome::kWouldBlock) return;
    if (!handle(r->message)) return;
  }
}

bool Worker::Impl::handle(Envelope& m) {
  switch (m.type) {
    case MessageType::kHandoff: handle_handoff(m); return true;
    case MessageType::kCommit: handle_commit(); return true;
    case MessageType::kPark: handle_park(); return true;
    case MessageType::kResume: handle_resume(); return true;
    case MessageType::kFeatures:
      if (auto f = m.as<Features>()) peer_features_ = f->flags;
      return true;
    case MessageType::kPing:
      if (auto ping = m.as<Ping>()) (void)channel_.send(Pong{ping->sequence});
      return true;
    case MessageType::kInherit: inherit(m); return true;
    case MessageType::kSteer:
      if (flows_) (void)flows_->apply(m);  // a bad one changes nothing; baton never sends one
      return true;
    default: break;
  }
  auto drain = m.as<Drain>();
  if (!drain) deliver_drain({DrainRequest::Reason::kSupervisorGone, options_.orphan_deadline});
  else deliver_drain({DrainRequest::Reason::kDrain, before_sigterm(std::chrono::milliseconds(drain->deadline_ms))});
  return false;
}

// Connections of a hung predecessor. A message whose flags and fds disagree
// is dropped whole (its fds close): baton never sends one.
void Worker::Impl::inherit(Envelope& m) {
  auto body = m.as<Inherit>();
  if (!body || body->flags.size() != m.fds.size() || !on_inherit_) return;
  std::vector<InheritedConnection> connections;
  connections.reserve(m.fds.size());
  for (std::size_t i = 0; i < m.fds.size(); ++i)
    connections.push_back({std::move(m.fds[i]), (body->flags[i] & kInheritMidRequest) != 0});
  on_inherit_(std::move(connections));
}

void Worker::Impl::deliver_drain(const DrainRequest& request) {
  // In drain mode nothing follows DRAIN: stop watching so the loop can end
  // once the application has closed its connections.
  poll_.close();
  if (drain_delivered_) return;
  drain_delivered_ = true;
  going();
  // Its flows are still served (forwarded here), but they, not the inbox, keep the loop going.
  if (flows_) flows_->release_loop();
  if (on_drain_) on_drain_(request);
}

}  // namespace baton
