// A run's exit profiles as JSON (schema "vpio-profile/1", docs/profile.md):
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
#include "vmm/exit_profile.hpp"
#include "vmm/machine.hpp"

namespace vpio {

inline constexpr const char* kProfileSchema = "vpio-profile/1";

struct GuestProfileSource {
  std::string name;
  GuestOutcome outcome;
  const ExitProfile* profile = nullptr;
  const PortBus* ports = nullptr;
  const MmioBus* mmio = nullptr;
};

nlohmann::json guest_profile_json(const GuestProfileSource& guest);
// Every machine must have been made with MachineConfig::profile.
nlohmann::json profile_json(const std::vector<std::unique_ptr<Machine>>& machines,
                            const std::vector<GuestOutcome>& outcomes);

}  // namespace vpio
