// What the benchmarks share: percentiles over samples, and pinning the
// calling thread to one CPU (the server on one, the load on the other).
#pragma once

#include <sched.h>

#include <algorithm>
#include <cstddef>
#include <vector>

namespace testing_support {

// The p-quantile (0..1) of `v`, nearest rank; 0 for no samples.
inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

inline double median(const std::vector<double>& v) { return percentile(v, 0.5); }

inline void pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  ::sched_setaffinity(0, sizeof set, &set);
}

}  // namespace testing_support
