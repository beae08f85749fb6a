// The counters of a run as JSON.
#include "vmm/run_stats.hpp"

namespace vpio {

const char* outcome_name(GuestOutcome::Kind kind) noexcept {
  switch (kind) {
    case GuestOutcome::Kind::exited: return "exited";
    case GuestOutcome::Kind::halted: return "halted";
    case GuestOutcome::Kind::crashed: return "crashed";
    case GuestOutcome::Kind::stopped: return "stopped";
  }
  return "unknown";
}

nlohmann::json run_stats(const std::vector<std::unique_ptr<Machine>>& machines,
                         const std::vector<GuestOutcome>& outcomes,
                         const std::vector<std::vector<EmulatedNic*>>& nics_of,
                         const std::vector<std::vector<PassthroughNic*>>& passthrough_of) {
  nlohmann::json guests = nlohmann::json::array();
  for (std::size_t i = 0; i < machines.size(); ++i) {
    const ExitCounters& c = machines[i]->counters();
    nlohmann::json by_reason = nlohmann::json::object();
    for (unsigned reason = 0; reason < ExitCounters::kReasons; ++reason) {
      const auto n = c.by_reason[reason].load();
      if (n == 0) continue;
      std::string name = exit_reason_name(reason);
      if (name == "other") name += "_" + std::to_string(reason);
      by_reason[name] = n;
    }
    nlohmann::json nics = nlohmann::json::array();
    for (const EmulatedNic* nic : nics_of[i]) {
      auto counts = const_cast<EmulatedNic*>(nic)->chip().counters();
      nics.push_back({{"mode", "emulate"},
                      {"mac", nic->mac().to_string()},
                      {"frames_sent", counts.frames_sent},
                      {"frames_received", counts.frames_received},
                      {"frames_dropped", counts.frames_dropped},
                      {"bad_programming", counts.bad_programming}});
    }
    for (PassthroughNic* nic : passthrough_of[i]) {
      const PortCounters& ports = nic->window().counters();
      nics.push_back({{"mode", "passthrough"},
                      {"device", nic->device().describe()},
                      {"port_accesses", ports.total()},
                      {"direct", ports.total(IoPath::direct)},
                      {"hooked", ports.total(IoPath::hooked)},
                      {"emulated", ports.total(IoPath::emulated)}});
    }
    guests.push_back({{"name", machines[i]->name()},
                      {"outcome", outcome_name(outcomes[i].kind)},
                      {"status", outcomes[i].status},
                      {"detail", outcomes[i].detail},
                      {"kvm_exits_to_userspace", c.userspace_exits.load()},
                      {"kvm_exits_by_reason", by_reason},
                      {"port_accesses", c.port_accesses.load()},
                      {"unclaimed_port_accesses", c.unclaimed_accesses.load()},
                      {"interrupts_injected", c.interrupts_injected.load()},
                      {"machine_checks_delivered", c.machine_checks_delivered.load()},
                      {"nics", nics}});
  }
  return {{"schema", "vpio-run-stats/1"}, {"guests", guests}};
}

}  // namespace vpio
