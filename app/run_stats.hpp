// The counters of a run as JSON (`vpio run --stats FILE`). Schema
// "vpio-run-stats/1", documented in docs/run-stats.md.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "app/nic.hpp"
#include "vmm/machine.hpp"

namespace vpio {

nlohmann::json run_stats(const std::vector<std::unique_ptr<Machine>>& machines,
                         const std::vector<GuestOutcome>& outcomes,
                         const std::vector<GuestNics>& nics_of);

// One guest's network counters, summed over its cards.
struct NicTotals {
  std::uint64_t frames_sent = 0, frames_received = 0;
  std::uint64_t direct = 0, hooked = 0, emulated = 0;
  std::uint64_t context_switches = 0, violations = 0;
};
NicTotals nic_totals(const GuestNics& nics);

const char* outcome_name(GuestOutcome::Kind kind) noexcept;

}  // namespace vpio
