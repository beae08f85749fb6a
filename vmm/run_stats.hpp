// The counters of a run as JSON (`vpio run --stats FILE`). Schema
// "vpio-run-stats/1", documented in docs/run-stats.md.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "vmm/machine.hpp"
#include "vmm/nic.hpp"

namespace vpio {

nlohmann::json run_stats(const std::vector<std::unique_ptr<Machine>>& machines,
                         const std::vector<GuestOutcome>& outcomes,
                         const std::vector<std::vector<EmulatedNic*>>& nics_of,
                         const std::vector<std::vector<PassthroughNic*>>& passthrough_of);

const char* outcome_name(GuestOutcome::Kind kind) noexcept;

}  // namespace vpio
