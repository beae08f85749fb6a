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
      "template",
      "template NIC",
      "the template device (16 ports; docs/model-authoring.md): emulate, passthrough, vpio; "
      "flat guests only",
      template_nic::kWindowPorts,
      hw::PciIdentity{},  // no PCI function
      0,                  // no posted writes: every access is hooked
      0,
      0,  // no tx-pages option
      0,
      make_chip,
      make_stand_in,
      nullptr,  // no real card
      make_monitor,
  };
  return kind;
}

}  // namespace vpio::devices
