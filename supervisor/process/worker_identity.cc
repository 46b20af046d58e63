#include "worker_identity.h"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace baton {
namespace {

std::vector<gid_t> supplementary_groups(const passwd& pw, gid_t gid) {
  int count = 32;
  std::vector<gid_t> groups(static_cast<std::size_t>(count));
  while (::getgrouplist(pw.pw_name, gid, groups.data(), &count) < 0) groups.resize(static_cast<std::size_t>(count));
  groups.resize(static_cast<std::size_t>(count));
  return groups;
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "baton: cannot start the worker as its --user: %s: %s\n", what, std::strerror(errno));
  std::_Exit(126);
}

std::optional<unsigned long> number(const char* text) {
  char* end = nullptr;
  errno = 0;
  const unsigned long n = std::strtoul(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0') return std::nullopt;
  return n;
}

}  // namespace

Result<WorkerIdentity> resolve_identity(const std::string& user, const std::string& group) {
  if (::geteuid() != 0)
    return Status::error("only root can start workers as another user (baton runs as uid " +
                         std::to_string(::geteuid()) + ")")
        .with_hint("run baton as root, or leave out --user and --group");
  const passwd* pw = ::getpwnam(user.c_str());
  if (pw == nullptr) return Status::error("no user \"" + user + "\" on this system").with_hint("check getent passwd");
  WorkerIdentity who{.user = user, .uid = pw->pw_uid, .gid = pw->pw_gid};
  if (!group.empty()) {
    const struct group* gr = ::getgrnam(group.c_str());
    if (gr == nullptr)
      return Status::error("no group \"" + group + "\" on this system").with_hint("check getent group");
    who.gid = gr->gr_gid;
  }
  who.groups = supplementary_groups(*pw, who.gid);
  return who;
}

std::vector<std::string> exec_as_argv(const WorkerIdentity& who, const std::string& executable,
                                      const std::vector<std::string>& command) {
  std::string groups;
  for (gid_t g : who.groups) groups += (groups.empty() ? "" : ",") + std::to_string(g);
  std::vector<std::string> argv{"baton", kExecAs, std::to_string(who.uid), std::to_string(who.gid), groups,
                                executable, "--"};
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

int exec_as_main(int argc, char** argv) {
  // baton __exec-as UID GID GROUPS EXECUTABLE -- ARGV...
  if (argc < 8 || std::strcmp(argv[6], "--") != 0) {
    std::fprintf(stderr, "baton: %s is for baton's own use\n", kExecAs);
    return 2;
  }
  const auto uid = number(argv[2]), gid = number(argv[3]);
  if (!uid || !gid) return 2;
  std::vector<gid_t> groups;
  std::istringstream list(argv[4]);
  for (std::string g; std::getline(list, g, ',');)
    if (auto n = number(g.c_str())) groups.push_back(static_cast<gid_t>(*n));
  if (::setgroups(groups.size(), groups.data()) != 0) fail("setgroups");
  if (::setgid(static_cast<gid_t>(*gid)) != 0) fail("setgid");
  if (::setuid(static_cast<uid_t>(*uid)) != 0) fail("setuid");
  if (*uid != 0 && ::setuid(0) == 0) {
    errno = EPERM;
    fail("root could be regained");
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) fail("clear ambient capabilities");
  ::execv(argv[5], argv + 7);
  fail(argv[5]);
}

}  // namespace baton
