// LoadClient: real HTTP traffic against 127.0.0.1 from a few threads, counting
// every failed request (refused, reset, cut off, non-200). Keep-alive
// connections reconnect only when the server said "Connection: close";
// anything else that breaks a connection is a failure. Bounded: it stops on
// stop() or after max_duration, whichever comes first.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace testing_support {

struct LoadStats {
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  std::vector<std::string> first_errors;  // up to 20, for the failure message
  // With writes: every key whose PUT was acknowledged (200), and its value.
  std::vector<std::pair<std::string, std::string>> acknowledged;
  // Keep-alive connections that had to be opened again (the server closed one).
  std::uint64_t reconnects = 0;
  // With read_back: writes read back on the connection that made them, and
  // those missing or changed.
  std::uint64_t read_back = 0, lost = 0;
};

class LoadClient {
 public:
  struct Options {
    std::uint16_t port = 0;
    int keepalive_connections = 4;  // one thread each, requests back to back
    int close_connections = 2;      // one thread each, a new connection per request
    std::string path = "/";
    // Keep-alive threads PUT fresh keys (/kv/c<thread>-<n>) instead of GET path.
    bool writes = false;
    // With writes: on stop, each keep-alive thread GETs the keys it wrote on
    // the connection it wrote them on (since its last reconnect). With -w N
    // each worker has a store of its own, and in handoff mode the connection
    // moves with the store: it reaches the worker that must hold them.
    bool read_back = false;
    std::chrono::seconds max_duration{120};
    // New-connection threads wait this long after each request: a few
    // thousand connections, not tens of thousands, whose TIME_WAITs would
    // collide with the next test's ports.
    std::chrono::milliseconds close_pause{0};
  };

  explicit LoadClient(Options options);
  ~LoadClient() { stop(); }

  std::uint64_t completed() const { return ok_.load() + failed_.load(); }
  std::uint64_t failed() const { return failed_.load(); }
  LoadStats stop();  // joins the threads; idempotent

 private:
  void run_keepalive(int thread);
  void run_close();
  void record_failure(const std::string& what);
  bool should_stop() const;

  Options options_;
  std::chrono::steady_clock::time_point deadline_;
  std::atomic<bool> stop_{false};
  void read_back(int conn, const std::vector<std::pair<std::string, std::string>>& written);

  std::atomic<std::uint64_t> ok_{0}, failed_{0}, reconnects_{0}, read_back_{0}, lost_{0};
  std::mutex mu_;
  std::vector<std::string> errors_;
  std::vector<std::pair<std::string, std::string>> acknowledged_;
  std::vector<std::thread> threads_;
};

}  // namespace testing_support
