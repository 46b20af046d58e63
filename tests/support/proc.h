// Facts about processes, read from /proc: what tests check for leaks.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace testing_support {

int open_fd_count(pid_t pid);          // entries in /proc/PID/fd, -1 if unreadable
// Waits (bounded) until `pid` holds `expected` fds, and returns its count
// then. A worker's output pipes close a loop turn after its exit is logged.
int settled_fd_count(pid_t pid, int expected, std::chrono::milliseconds timeout = std::chrono::seconds(10));
long rss_kib(pid_t pid);               // VmRSS from /proc/PID/status, -1 if unreadable
std::vector<pid_t> children_of(pid_t parent);  // direct children, zombies included
bool is_zombie(pid_t pid);
bool process_exists(pid_t pid);        // alive or zombie
std::string fd_listing(pid_t pid);     // "3 -> socket:[123]" lines, for failure messages

}  // namespace testing_support
