#include "control_path.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "baton/listener_socket.h"

namespace baton {
namespace {

constexpr std::size_t kMaxNameLength = 64;
constexpr const char* kPointElsewhere = "point to it with --control PATH or --name NAME";

// The directory is ours alone: owned by us, not writable by anyone else.
Status check_private_dir(const std::string& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return Status::from_errno(errno, "stat " + dir);
  if (!S_ISDIR(st.st_mode)) return Status::error(dir + " is not a directory").with_hint("remove it, or use --control PATH");
  if (st.st_uid != ::geteuid())
    return Status::error(dir + " belongs to uid " + std::to_string(st.st_uid) + ", not to uid " +
                         std::to_string(::geteuid()))
        .with_hint("remove it, or use --control PATH in a directory of your own");
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return Status::error(dir + " is writable by other users").with_hint("chmod 0700 " + dir);
  return Status::ok();
}

Status make_private_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::from_errno(errno, "create " + dir).with_hint("use --control PATH in a directory you can write");
  return check_private_dir(dir);
}

bool someone_listens(const std::string& path) {
  auto addr = unix_address(path);
  return addr && probe_unix_socket(*addr) != UnixProbe::kNobody;
}

}  // namespace

std::string default_control_dir() {
  if (::geteuid() == 0) return "/run/baton";
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg == '/') return std::string(xdg) + "/baton";
  return "/tmp/baton-" + std::to_string(::geteuid());
}

std::string name_from_command(const std::string& argv0) {
  return std::filesystem::path(argv0).filename().string();
}

Status check_service_name(const std::string& name) {
  const bool allowed =
      !name.empty() && name.size() <= kMaxNameLength && name[0] != '.' &&
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@") == std::string::npos;
  if (allowed) return Status::ok();
  return Status::error("\"" + name + "\" cannot name a control socket")
      .with_hint("use up to 64 letters, digits, '.', '_', '-' or '@', not starting with '.'");
}

Result<std::string> server_control_path(const std::string& name, const std::string& explicit_path) {
  if (!explicit_path.empty()) {
    if (explicit_path[0] != '/') return std::filesystem::absolute(explicit_path).string();
    return explicit_path;
  }
  if (Status st = check_service_name(name); !st) return st.with_context("--name");
  const std::string dir = default_control_dir();
  if (Status st = make_private_dir(dir); !st) return st.with_context("control socket directory");
  return dir + "/" + name + ".sock";
}

Result<std::string> client_control_path(const std::string& name, const std::string& explicit_path) {
  if (!explicit_path.empty()) return explicit_path;
  const std::string dir = default_control_dir();
  if (!name.empty()) {
    if (Status st = check_service_name(name); !st) return st.with_context("--name");
    return dir + "/" + name + ".sock";
  }
  std::vector<std::string> found;
  std::error_code ec;
  // A socket left by a baton that was killed answers nobody: not a candidate.
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.path().extension() == ".sock" && someone_listens(entry.path().string()))
      found.push_back(entry.path().string());
  if (found.size() == 1) return found[0];
  if (found.empty())
    return Status::error("no baton control socket in " + dir + " (is baton running, as this user?)")
        .with_hint(kPointElsewhere);
  std::string list;
  for (const auto& f : found) list += "\n  " + f;
  return Status::error("several batons run here:" + list).with_hint("pick one with --name NAME or --control PATH");
}

}  // namespace baton
