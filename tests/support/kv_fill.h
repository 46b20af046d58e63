// Filling kvstore workers with state, for memory tests and benchmarks.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace testing_support {

// Gives each of `pids` (kvstore workers behind `port`, each with a store of
// its own) `mib` values of 1 MiB, over a connection that GET /stats shows is
// its own; one thread per worker, so that idle workers win the accepts while
// the others are busy. Empty on success, else what went wrong.
std::string fill_each_worker(std::uint16_t port, std::vector<pid_t> pids, std::uint64_t mib);

}  // namespace testing_support
