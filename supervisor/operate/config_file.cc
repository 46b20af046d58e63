#include "config_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <toml++/toml.h>

#include "baton/unique_fd.h"

namespace baton {
namespace {

std::string where(const std::string& path, const toml::source_region& region) {
  return path + ":" + std::to_string(region.begin.line);
}

// A scalar as the command line would spell it; nullopt for types no flag takes.
std::optional<std::string> scalar_text(const toml::node& node) {
  if (auto s = node.value<std::string>(); s && node.is_string()) return *s;
  if (node.is_integer()) return std::to_string(node.as_integer()->get());
  if (node.is_boolean()) return node.as_boolean()->get() ? "true" : "false";
  return std::nullopt;
}

Result<ConfigSetting> setting_of(const std::string& path, const std::string& key, const toml::node& node) {
  ConfigSetting s{.key = key, .where = where(path, node.source())};
  const std::string wrong = s.where + ": key \"" + key + "\" must be a string, a whole number or a list of strings";
  if (const toml::array* list = node.as_array()) {
    for (const toml::node& item : *list) {
      auto text = scalar_text(item);
      if (!text) return Status::error(wrong + " (an entry of the list is not)");
      s.values.push_back(*text);
    }
    return s;
  }
  auto text = scalar_text(node);
  if (!text) return Status::error(wrong);
  s.values.push_back(*text);
  return s;
}

}  // namespace

Result<std::string> read_config_text(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) return Status::from_errno(errno, path).with_hint("check the path given to --config");
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Status::from_errno(errno, path);
  if (!S_ISREG(st.st_mode))
    return Status::error(path + ": not a regular file; give --config the path of a TOML file");
  std::string text;
  char buffer[16384];
  for (ssize_t n; (n = ::read(fd.get(), buffer, sizeof buffer)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::from_errno(errno, "read " + path);
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > kMaxConfigBytes)
      return Status::error(path + ": larger than " + std::to_string(kMaxConfigBytes >> 20) +
                           " MiB; is it baton's config file?");
  }
  return text;
}

Result<std::vector<ConfigSetting>> parse_config(const std::string& text, const std::string& path) {
  toml::table table;
  try {
    table = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    const auto& begin = e.source().begin;
    return Status::error(path + ":" + std::to_string(begin.line) + ":" + std::to_string(begin.column) + ": " +
                         std::string(e.description()));
  }
  std::vector<ConfigSetting> settings;
  for (const auto& [key, node] : table) {
    if (node.is_table())
      return Status::error(where(path, node.source()) + ": [" + std::string(key.str()) +
                           "] tables are not part of baton's config; every key sits at the top level");
    auto s = setting_of(path, std::string(key.str()), node);
    if (!s) return s.status();
    settings.push_back(std::move(s.value()));
  }
  return settings;
}

}  // namespace baton
