// The counters of a run as JSON.
#include "app/run_stats.hpp"

#include "kvm/kvm_identity.hpp"

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

namespace {

// A placed MMIO window's exits, by path, into `t`.
void add_mmio(NicTotals& t, const MmioWindow* window) {
  if (window == nullptr || !window->base()) return;
  t.direct += window->counters().total(IoPath::direct);
  t.hooked += window->counters().total(IoPath::hooked);
}

// A placed MMIO window's figures for a card's stats entry.
void add_mmio(nlohmann::json& entry, const MmioWindow* window) {
  if (window == nullptr || !window->base()) return;
  const PortCounters& c = window->counters();
  entry["mmio"] = {{"base", *window->base()},
                   {"bytes", window->bytes()},
                   {"pages_mapped", window->pages_mapped()},
                   {"direct_exits", c.total(IoPath::direct)},
                   {"hooked_exits", c.total(IoPath::hooked)}};
}

}  // namespace

NicTotals nic_totals(const GuestNics& nics) {
  NicTotals t;
  for (EmulatedNic* nic : nics.emulated) {
    const auto counts = nic->chip().counts();
    t.frames_sent += counts.frames_sent;
    t.frames_received += counts.frames_received;
  }
  for (PassthroughNic* nic : nics.passthrough) {
    t.direct += nic->window().counters().total(IoPath::direct);
    t.hooked += nic->window().counters().total(IoPath::hooked);
    add_mmio(t, nic->mmio_window());
    if (auto* chip = dynamic_cast<hw::StandInDevice*>(&nic->device())) {
      const auto counts = chip->network_chip().counts();
      t.frames_sent += counts.frames_sent;
      t.frames_received += counts.frames_received;
    }
  }
  for (VpioNic* nic : nics.vpio) {
    const dmm::Report g = nic->share->report();
    t.frames_sent += g.count("frames_sent");
    t.frames_received += g.count("frames_received");
    t.direct += nic->share->window().counters().total(IoPath::direct);
    t.hooked += nic->share->window().counters().total(IoPath::hooked);
    add_mmio(t, nic->share->mmio_window());
    t.context_switches += g.count("context_switches");
    t.violations += g.count("violations");
  }
  return t;
}

nlohmann::json run_stats(const std::vector<std::unique_ptr<Machine>>& machines,
                         const std::vector<GuestOutcome>& outcomes,
                         const std::vector<GuestNics>& nics_of) {
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
    // Only the lines that had any: "0" the PIT's tick, "9" a card's, ...
    nlohmann::json by_irq = nlohmann::json::object();
    for (unsigned irq = 0; irq < kIrqLines; ++irq)
      if (const auto n = c.interrupts_by_irq[irq].load(); n != 0) by_irq[std::to_string(irq)] = n;
    nlohmann::json nics = nlohmann::json::array();
    for (const EmulatedNic* nic : nics_of[i].emulated) {
      auto counts = const_cast<EmulatedNic*>(nic)->chip().counts();
      nics.push_back({{"mode", "emulate"},
                      {"mac", nic->mac().to_string()},
                      {"frames_sent", counts.frames_sent},
                      {"frames_received", counts.frames_received},
                      {"frames_dropped", counts.frames_dropped},
                      {"bad_programming", counts.bad_programming}});
    }
    for (PassthroughNic* nic : nics_of[i].passthrough) {
      const PortCounters& ports = nic->window().counters();
      nlohmann::json entry = {{"mode", "passthrough"},
                              {"device", nic->device().describe()},
                              {"port_accesses", ports.total()},
                              {"direct", ports.total(IoPath::direct)},
                              {"hooked", ports.total(IoPath::hooked)},
                              {"emulated", ports.total(IoPath::emulated)},
                              {"coalesced", ports.total(IoPath::coalesced)}};
      if (auto* chip = dynamic_cast<hw::StandInDevice*>(&nic->device())) {
        const auto counts = chip->network_chip().counts();
        entry["frames_sent"] = counts.frames_sent;
        entry["frames_received"] = counts.frames_received;
      }
      add_mmio(entry, nic->mmio_window());
      // What the device counts of itself (a host card: its polled interrupt).
      for (const auto& [name, value] : nic->device().counts()) entry[name] = value;
      nics.push_back(entry);
    }
    for (VpioNic* nic : nics_of[i].vpio) {
      const PortCounters& ports = nic->share->window().counters();
      nlohmann::json entry = {{"mode", "vpio"},
                              {"device", nic->monitor->describe_device()},
                              {"port_accesses", ports.total()},
                              {"direct", ports.total(IoPath::direct)},
                              {"hooked", ports.total(IoPath::hooked)},
                              {"emulated", ports.total(IoPath::emulated)},
                              {"coalesced", ports.total(IoPath::coalesced)}};
      add_mmio(entry, nic->share->mmio_window());
      // The rest is the device's: what its monitor counts of this guest's
      // share, and of the card ("card").
      const dmm::Report share = nic->share->report();
      for (const auto& [name, text] : share.texts) entry[name] = text;
      for (const auto& [name, count] : share.counts) entry[name] = count;
      nlohmann::json card = nlohmann::json::object();
      const dmm::Report device = nic->monitor->report();
      for (const auto& [name, text] : device.texts) card[name] = text;
      for (const auto& [name, count] : device.counts) card[name] = count;
      // What the card counts of itself (a VFIO card: its interrupts).
      for (const auto& [name, value] : nic->device->counts()) card["device_" + std::string(name)] = value;
      entry["card"] = card;
      nics.push_back(entry);
    }
    guests.push_back({{"name", machines[i]->name()},
                      {"outcome", outcome_name(outcomes[i].kind)},
                      {"status", outcomes[i].status},
                      {"detail", outcomes[i].detail},
                      {"kvm_exits_to_userspace", c.userspace_exits.load()},
                      {"kvm_exits_by_reason", by_reason},
                      {"port_accesses", c.port_accesses.load()},
                      {"coalesced_port_accesses", c.coalesced_accesses.load()},
                      {"coalesced_ring_drains", c.ring_drains.load()},
                      {"unclaimed_port_accesses", c.unclaimed_accesses.load()},
                      {"interrupts_injected", c.interrupts_injected.load()},
                      {"interrupts_injected_by_irq", by_irq},
                      {"interrupts_held_in_shadow", c.injections_held_in_shadow.load()},
                      {"machine_checks_delivered", c.machine_checks_delivered.load()},
                      {"nics", nics}});
  }
  nlohmann::json out = {{"schema", "vpio-run-stats/1"}};
  // One KVM serves every guest of a run; a field added within /1 (readers
  // ignore what they do not know).
  if (!machines.empty()) out["kvm"] = kvm_identity_json(machines.front()->kvm_identity());
  out["guests"] = guests;
  return out;
}

}  // namespace vpio
