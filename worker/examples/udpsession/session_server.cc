#include "session_server.h"

#include <unistd.h>

#include <algorithm>
#include <istream>
#include <ostream>

namespace udpsession {

SessionServer::SessionServer(uv_loop_t* loop, baton::Worker& worker, std::string listener,
                             std::chrono::milliseconds idle_timeout)
    : loop_(loop),
      worker_(worker),
      listener_(std::move(listener)),
      idle_timeout_(idle_timeout),
      who_(std::to_string(worker.generation()) + "." + std::to_string(worker.index())),
      // Without a tag (standalone, no steering) ids still differ between processes.
      counter_(static_cast<std::uint32_t>(::getpid()) << 12) {}

baton::Status SessionServer::open(baton::UniqueFd fd) {
  if (auto st = socket_.init(loop_, uv_udp_init, this); !st) return st;
  if (int rc = uv_udp_open(socket_.get(), fd.get()); rc != 0)
    return baton::Status::from_errno(-rc, "uv_udp_open on listener \"" + listener_ + "\"");
  (void)fd.release();  // libuv owns it now
  open_ = true;
  if (auto st = sweep_timer_.init(loop_, uv_timer_init, this); !st) return st;
  uv_timer_start(sweep_timer_.get(), [](uv_timer_t* t) {
    if (auto* self = static_cast<SessionServer*>(t->data)) self->sweep();
  }, 1000, 1000);
  uv_unref(sweep_timer_.base());  // it never keeps the worker alive by itself
  return baton::Status::ok();
}

void SessionServer::start_reading() {
  if (!open_) return;
  uv_udp_recv_start(
      socket_.get(),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        static char buffer[65536];  // one datagram at a time, on the loop's thread
        *buf = uv_buf_init(buffer, sizeof buffer);
      },
      [](uv_udp_t* u, ssize_t n, const uv_buf_t* buf, const sockaddr* from, unsigned) {
        auto* self = static_cast<SessionServer*>(u->data);
        if (self == nullptr || n <= 0 || from == nullptr) return;
        std::span<const std::uint8_t> datagram(reinterpret_cast<const std::uint8_t*>(buf->base),
                                               static_cast<std::size_t>(n));
        if (self->worker_.steer(self->listener_, from, datagram)) return;  // another worker's session
        self->serve(from, datagram);
      });
}

void SessionServer::stop_reading() {
  if (open_) uv_udp_recv_stop(socket_.get());
}

std::uint32_t SessionServer::owner(std::span<const std::uint8_t> datagram) const {
  auto request = parse_request({reinterpret_cast<const char*>(datagram.data()), datagram.size()});
  if (!request || request->kind == Request::Kind::kOpen || request->kind == Request::Kind::kStats) return 0;
  // Held here (also when it came with a handoff): ours, whatever its tag says.
  if (sessions_.count(request->id) != 0) return worker_.flow_tag();
  return tag_of(request->id);
}

void SessionServer::serve(const sockaddr* from, std::span<const std::uint8_t> datagram) {
  auto request = parse_request({reinterpret_cast<const char*>(datagram.data()), datagram.size()});
  reply(from, request ? answer(*request) : "ERROR say OPEN, DATA <id> <seq>, CLOSE <id> or STATS");
  finish_if_empty();  // a draining server's last session closed: after its answer went out
}

std::string SessionServer::answer(const Request& request) {
  if (request.kind == Request::Kind::kOpen) return open_session();
  if (request.kind == Request::Kind::kStats) return stats();
  auto it = sessions_.find(request.id);
  if (it == sessions_.end()) return "UNKNOWN " + id_text(request.id) + " " + who_;
  Session& s = it->second;
  s.seen = std::chrono::steady_clock::now();
  if (request.kind == Request::Kind::kClose) {
    sessions_.erase(it);
    return "CLOSED " + id_text(request.id);
  }
  if (request.seq != s.last_seq && request.seq != s.last_seq + 1)
    return "BADSEQ " + id_text(request.id) + " " + std::to_string(s.last_seq + 1);
  s.last_seq = request.seq;  // a repeat (our answer was lost) is answered again
  return "ACK " + id_text(request.id) + " " + std::to_string(request.seq) + " " + who_;
}

std::string SessionServer::open_session() {
  const std::uint64_t id = make_session_id(worker_.flow_tag(), ++counter_);
  sessions_[id] = Session{0, std::chrono::steady_clock::now()};
  return "OPENED " + id_text(id) + " " + who_;
}

std::string SessionServer::stats() const {
  const baton::FlowStats f = worker_.flow_stats();
  return "STATS gen=" + std::to_string(worker_.generation()) + " index=" + std::to_string(worker_.index()) +
         " pid=" + std::to_string(::getpid()) + " tag=" + std::to_string(worker_.flow_tag()) +
         " sessions=" + std::to_string(sessions_.size()) + " forwarded=" + std::to_string(f.forwarded) +
         " delivered=" + std::to_string(f.delivered) + " dropped=" + std::to_string(f.dropped);
}

void SessionServer::reply(const sockaddr* to, const std::string& text) {
  if (!open_) return;
  uv_buf_t buf = uv_buf_init(const_cast<char*>(text.data()), static_cast<unsigned>(text.size()));
  (void)uv_udp_try_send(socket_.get(), &buf, 1, to);  // a full socket drops it; the client asks again
}

void SessionServer::sweep() {
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(sessions_, [&](const auto& entry) { return now - entry.second.seen > idle_timeout_; });
  finish_if_empty();
}

void SessionServer::drain(std::chrono::milliseconds deadline, std::function<void()> done) {
  stop_reading();
  done_ = std::move(done);
  if (deadline_.init(loop_, uv_timer_init, this))
    uv_timer_start(deadline_.get(), [](uv_timer_t* t) {
      auto* self = static_cast<SessionServer*>(t->data);
      if (self == nullptr) return;
      self->sessions_.clear();  // out of time: these sessions end with us
      self->finish_if_empty();
    }, static_cast<std::uint64_t>(deadline.count()), 0);
  finish_if_empty();
}

void SessionServer::finish_if_empty() {
  if (!done_ || !sessions_.empty()) return;
  close();
  std::exchange(done_, nullptr)();
}

void SessionServer::close() {
  open_ = false;
  socket_.close();
  sweep_timer_.close();
  deadline_.close();
}

void SessionServer::save(std::ostream& out) const {
  out << counter_ << '\n';
  for (const auto& [id, s] : sessions_) out << id << ' ' << s.last_seq << '\n';
}

void SessionServer::load(std::istream& in) {
  std::uint32_t counter = 0;
  if (in >> counter) counter_ = std::max(counter_, counter);
  std::uint64_t id = 0, last_seq = 0;
  const auto now = std::chrono::steady_clock::now();
  while (in >> id >> last_seq) sessions_[id] = Session{last_seq, now};
}

}  // namespace udpsession
