// A run's exit profiles as JSON (schema "vpio-profile/2", docs/profile.md):
// the rows sorted, device names resolved from each guest's buses, sites
// disassembled, and vpio's counts set beside KVM's own with the reason for
// every difference.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "hooks/mmio_bus.hpp"
#include "hooks/port_bus.hpp"
#include "kvm/kvm_identity.hpp"
#include "profile/exit_profiler.hpp"
#include "vmm/machine.hpp"

namespace vpio {

// /2: the KVM identity, and a status per KVM comparison row instead of /1's
// "expected" (profile/render/profile_report.cpp still reads /1).
inline constexpr const char* kProfileSchema = "vpio-profile/2";

// The status of a row comparing a KVM counter with vpio's count.
inline constexpr const char* kCompareAgrees = "agrees";            // equal, as the rule says
inline constexpr const char* kCompareExplained = "explained";      // differs as the rule says
inline constexpr const char* kCompareNotKept = "not_kept";         // stayed 0; vpio saw > 0
inline constexpr const char* kCompareNotOffered = "not_offered";   // no such counter
inline constexpr const char* kCompareUnexplained = "unexplained";  // rule measured here fails
inline constexpr const char* kCompareUnmeasured = "unmeasured";  // differs; rule not measured here

struct GuestProfileSource {
  std::string name;
  GuestOutcome outcome;
  const ExitProfile* profile = nullptr;
  const PortBus* ports = nullptr;
  const MmioBus* mmio = nullptr;
  // The KVM the guest ran on; nullptr: unknown, so no rule counts as measured.
  const KvmIdentity* kvm = nullptr;
};

nlohmann::json guest_profile_json(const GuestProfileSource& guest);
// The profile of a run: `profilers[i]` observed `machines[i]` (a machine
// without one is left out).
nlohmann::json profile_json(const std::vector<std::unique_ptr<Machine>>& machines,
                            const std::vector<std::shared_ptr<const ExitProfiler>>& profilers,
                            const std::vector<GuestOutcome>& outcomes);

}  // namespace vpio
