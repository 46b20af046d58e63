// A QUIC client of quicecho's (ngtcp2 + GnuTLS, like the server), for tests
// and benchmarks: one connection on its own UDP socket, run to its end on the
// calling thread. It opens `streams` streams `gap` apart, each carrying
// "ping <n>" and finished at once, and expects each answered with the same
// bytes and the answering worker; then it closes the connection. A
// connection is broken when the server ends it, or a stream goes unanswered
// for `answer_within` (its packets reached a worker without the connection).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "baton/status.h"

namespace testing_support {

struct QuicEchoOptions {
  std::uint16_t port = 0;
  int streams = 40;
  std::chrono::milliseconds gap{25};
  std::chrono::milliseconds answer_within{3000};
};

struct QuicEchoResult {
  std::string first_who;            // "<gen>.<index>" that answered the first stream
  std::uint64_t generation = 0;     // ... its generation
  std::chrono::steady_clock::time_point started;  // when the connection's first packet went out
  std::vector<std::chrono::microseconds> round_trips;  // each stream's, opened to answered
};

// The connection's outcome; an error says how it broke.
baton::Result<QuicEchoResult> run_quic_echo(const QuicEchoOptions& options);

}  // namespace testing_support
