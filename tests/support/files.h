// Reading a whole file, for tests that check what baton or a config says.
#pragma once

#include <string>

namespace testing_support {

// The file's bytes; empty if it cannot be read.
std::string read_file(const std::string& path);

}  // namespace testing_support
