// `baton status --json`: the report as JSON (nlohmann-json). The fields are a
// stable interface, documented in docs/operating.md ("baton status --json"): new fields
// may be added, none renamed or removed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "baton/listener_spec.h"
#include "status_report.h"
#include "upgrade_record.h"

namespace baton {

// What baton knows about itself beside the supervisor's report.
struct ServiceFacts {
  std::string name;
  std::string control_socket;
  std::string metrics;  // the metrics URL, empty without --metrics
  std::vector<ListenerSpec> listeners;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::uint64_t self_upgrades = 0;  // times this baton re-executed itself in place
};

nlohmann::json upgrade_json(const UpgradeRecord& u);
nlohmann::json status_json(const SupervisorReport& report, const ServiceFacts& facts);
// Fills in what only the OS says, read when status is asked for (not at
// every metrics scrape): the client connections each worker of a leaving
// (retiring or parked) generation still holds on `listeners` (its own word,
// else /proc), and the cgroup's memory limit that admission goes by.
void add_os_facts(SupervisorReport& report, const std::vector<ListenerSpec>& listeners);

}  // namespace baton
