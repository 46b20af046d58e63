// Helper workers that misbehave on purpose, run as `baton_tests --helper MODE`.
#pragma once

#include <string>

namespace testing_support {

// Path of the running test binary (to exec it as a helper).
std::string self_exe();
// Runs helper MODE; returns the process exit code.
int run_helper(const std::string& mode);

}  // namespace testing_support
