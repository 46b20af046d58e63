// SessionServer: udpsession's sessions on one UDP socket, the socket shared
// with every other worker of every generation. Datagrams come from the
// socket (after Worker::steer() let them through) or from baton's steering
// (another worker read them); either way serve() answers through our socket.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <span>
#include <string>
#include <unordered_map>

#include "baton/uv_handle.h"
#include "baton/worker.h"
#include "session_protocol.h"

namespace udpsession {

class SessionServer {
 public:
  SessionServer(uv_loop_t* loop, baton::Worker& worker, std::string listener, std::chrono::milliseconds idle_timeout);
  baton::Status open(baton::UniqueFd fd);

  // Reading the socket: from READY (or COMMIT); not while draining or handing off.
  void start_reading();
  void stop_reading();
  void serve(const sockaddr* from, std::span<const std::uint8_t> datagram);
  // Steering: the tag in the datagram's session id; ours for a session we hold.
  std::uint32_t owner(std::span<const std::uint8_t> datagram) const;

  // Stops reading the socket; the sessions we hold are still served (baton's
  // steering brings their datagrams) until they close, go idle, or the
  // deadline passes. Then everything closes and `done` runs.
  void drain(std::chrono::milliseconds deadline, std::function<void()> done);
  void close();  // at once: a handoff committed, or a second signal
  bool draining() const { return static_cast<bool>(done_); }

  void save(std::ostream& out) const;  // the sessions and the id counter: a handoff's state
  void load(std::istream& in);
  std::size_t sessions() const { return sessions_.size(); }

 private:
  struct Session {
    std::uint64_t last_seq = 0;
    std::chrono::steady_clock::time_point seen;
  };
  std::string answer(const Request& request);
  std::string open_session();
  std::string stats() const;
  void reply(const sockaddr* to, const std::string& text);
  void sweep();  // ends idle sessions; a draining server may then be done
  void finish_if_empty();

  uv_loop_t* loop_;
  baton::Worker& worker_;
  std::string listener_;
  std::chrono::milliseconds idle_timeout_;
  std::string who_;  // "<gen>.<index>", in every answer
  std::unordered_map<std::uint64_t, Session> sessions_;
  std::uint32_t counter_;
  std::function<void()> done_;  // set while draining
  baton::UvHandle<uv_udp_t> socket_;
  baton::UvHandle<uv_timer_t> sweep_timer_, deadline_;
  bool open_ = false;
};

}  // namespace udpsession
