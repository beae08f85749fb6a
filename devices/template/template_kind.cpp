// The template device as vpio offers it: a 16-port window for flat test
// guests (no PCI function: no stock driver knows it), in emulate,
// passthrough and vpio modes, on its chip standing in for hardware. A copy
// of this folder starts a new device.
#include "devices/template/template_kind.hpp"

#include <algorithm>

#include "devices/chip_stand_in.hpp"
#include "devices/template/template_monitor.hpp"
#include "devices/template/template_nic.hpp"

namespace vpio::devices {
namespace {

std::unique_ptr<hw::NetworkChip> make_chip(hw::MacAddress mac) {
  return std::make_unique<TemplateNic>(mac);
}

std::unique_ptr<hw::StandInDevice> make_stand_in(hw::MacAddress mac) {
  return std::make_unique<ChipStandIn<TemplateNic>>("emulated template NIC (stand-in for hardware)",
                                                    mac);
}

std::unique_ptr<dmm::nic::NicMonitor> make_monitor(hw::PhysicalDevice& card,
                                                   const NicMonitorOptions& options) {
  TemplateMonitorConfig config;
  config.queue_frames = options.queue_frames;
  config.max_guests = std::max(options.sharers, 1u);
  config.sharing = sharing_config(options);
  return std::make_unique<TemplateMonitor>(card, config);
}

}  // namespace

const NicKind& template_kind() noexcept {
  static const NicKind kind{
      .name = "template",
      .display = "template NIC",
      .what = "the template device (16 ports, 2 MMIO pages; docs/model-authoring.md): emulate, passthrough, "
              "vpio; flat guests only",
      .window_ports = template_nic::kWindowPorts,
      .pci = hw::PciIdentity{},  // no PCI function
      // No posted writes (every access is hooked), no tx-pages option.
      .mmio_bytes = template_nic::kMmioBytes,
      // No real card.
      .make_chip = make_chip,
      .make_stand_in = make_stand_in,
      .make_monitor = make_monitor,
  };
  return kind;
}

}  // namespace vpio::devices
