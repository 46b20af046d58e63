// `baton status` without --json: the status JSON (status_json.h) as a short
// summary and a table of workers, for a person at a terminal.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace baton {

std::string status_text(const nlohmann::json& status);
// One line about one upgrade: "upgrade to generation 3 committed in 0.41s: <reason>".
std::string upgrade_text(const nlohmann::json& upgrade);
// "850ms", "12.3s", "4m05s", "2h13m"
std::string human_duration(double seconds);

}  // namespace baton
