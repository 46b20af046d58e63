// ProbationCheck (--probation-check): while a generation is on --probation,
// baton asks the service itself whether it is healthy, as a load balancer
// would: an HTTP GET every second, on a URL (http://127.0.0.1:8080/healthz)
// or a path (/healthz, on baton's first TCP listener, which only the
// generation on probation accepts on: the previous one is parked or
// draining). kProbationCheckFailures answers in a row that are not 2xx
// (refused, timed out after 1 s, 500...) make the generation unhealthy, and
// it is rolled back as a crashing one is. Runs on baton's loop, never blocking.
#pragma once

#include <netinet/in.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "baton/listener_spec.h"
#include "baton/status.h"
#include "baton/unique_fd.h"
#include "baton/uv_handle.h"
#include "supervisor_observer.h"

namespace baton {

inline constexpr int kProbationCheckFailures = 3;

// Where --probation-check asks: an address and the request's path.
struct HealthTarget {
  sockaddr_storage address{};
  std::string host_header;  // "127.0.0.1:8080"
  std::string path;         // "/healthz"
  std::string text;         // as the log says it: "GET http://127.0.0.1:8080/healthz"
};
// `check` as the flag gives it; `listeners` for a bare path.
Result<HealthTarget> parse_health_target(const std::string& check, const std::vector<ListenerSpec>& listeners);

class ProbationCheck final : public SupervisorObserver {
 public:
  // `unhealthy(generation, reason)`: what to do once the check fails.
  using Unhealthy = std::function<void(std::uint64_t generation, const std::string& reason)>;
  ProbationCheck(uv_loop_t* loop, HealthTarget target, Unhealthy unhealthy);
  ~ProbationCheck();

  void probation_started(std::uint64_t generation) override;
  void probation_ended(std::uint64_t generation) override;

 private:
  void ask();                        // one GET
  void answered(const std::string& failure);  // empty: 2xx
  static void on_poll(uv_poll_t* poll, int status, int events);
  void on_socket(int events);  // -1: the socket failed
  void end_request();

  uv_loop_t* loop_;
  HealthTarget target_;
  Unhealthy unhealthy_;
  std::uint64_t generation_ = 0;  // on probation, 0 when none
  int failures_ = 0;              // in a row
  int answers_ = 0, healthy_ = 0;  // this probation's, for the line at its end
  Timer next_;                    // the next GET, every second
  Timer timeout_;                 // this GET's answer
  UniqueFd socket_;
  std::unique_ptr<UvHandle<uv_poll_t>> poll_;  // one per GET (a closed handle cannot be used again)
  bool sent_ = false;
  std::string reply_;
};

}  // namespace baton
